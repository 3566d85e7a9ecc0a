"""metafor's generic functions as methods of the fitted models (``res.rstandard()`` ...).

The computations live in :mod:`.diagnostics`, which imports the fit classes; the methods import it
on first use so that :mod:`.core` stays importable on its own and ``pool()`` pays nothing for them.
"""

from __future__ import annotations


class DiagnosticsMixin:
    """Residuals, influence, BLUPs, VIF, fit statistics and model comparison of a fitted model,
    as metafor's methods of the same names (see :mod:`metaanalysis.pooling.diagnostics`)."""

    __slots__ = ()

    def rstandard(self, type: str = "marginal"):
        """Standardised residuals (metafor's ``rstandard``)."""
        from .diagnostics import rstandard

        return rstandard(self, type=type)

    def rstudent(self):
        """Studentised deleted residuals (metafor's ``rstudent``)."""
        from .diagnostics import rstudent

        return rstudent(self)

    def hatvalues(self):
        """Diagonal of the hat matrix (metafor's ``hatvalues``)."""
        from .diagnostics import hatvalues

        return hatvalues(self)

    def cooks_distance(self, btt=None):
        """Cook's distances (metafor's ``cooks.distance``)."""
        from .diagnostics import cooks_distance

        return cooks_distance(self, btt=btt)

    def dfbetas(self):
        """DFBETAS, one column per coefficient (metafor's ``dfbetas``)."""
        from .diagnostics import dfbetas

        return dfbetas(self)

    def blup(self, level=None, transf=None):
        """Best linear unbiased predictions of the study effects (metafor's ``blup``)."""
        from .diagnostics import blup

        return blup(self, level=level, transf=transf)

    def ranef(self, level=None, transf=None):
        """Predicted random effects (metafor's ``ranef``)."""
        from .diagnostics import ranef

        return ranef(self, level=level, transf=transf)

    def vif(self, btt=None, intercept: bool = False):
        """Variance inflation factors of the moderators (metafor's ``vif``)."""
        from .diagnostics import vif

        return vif(self, btt, intercept=intercept)

    def anova(self, other=None, *, btt=None, X=None, rhs=None, refit: bool = False):
        """Wald test of coefficients, or likelihood-ratio test against ``other`` (metafor's
        ``anova``)."""
        from .diagnostics import anova

        return anova(self, other, btt=btt, X=X, rhs=rhs, refit=refit)

    def fitstats(self, reml=None):
        """Log-likelihood, deviance, AIC, BIC and AICc (metafor's ``fitstats``)."""
        from .diagnostics import fitstats

        return fitstats(self, reml=reml)

    def loglik(self, reml=None) -> float:
        """Log-likelihood (metafor's ``logLik``)."""
        return self.fitstats(reml=reml).loglik

    def aic(self, reml=None) -> float:
        """Akaike's information criterion (metafor's ``AIC``)."""
        return self.fitstats(reml=reml).aic

    def bic(self, reml=None) -> float:
        """Bayesian information criterion (metafor's ``BIC``)."""
        return self.fitstats(reml=reml).bic
