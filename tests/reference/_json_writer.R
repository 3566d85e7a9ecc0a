# A small JSON writer shared by the reference scripts: numbers with 17 significant digits
# (jsonlite rounds to 15), NA and non-finite values as null, logicals as true/false.
# Use: source("tests/reference/_json_writer.R") from the repository root.

num_txt <- function(x) ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    if (is.null(nm)) return(paste0("[", paste(vapply(x, to_json, ""), collapse = ","), "]"))
    items <- vapply(seq_along(x), function(i) paste0('"', nm[i], '":', to_json(x[[i]])), "")
    return(paste0("{", paste(items, collapse = ","), "}"))
  }
  s <- if (is.logical(x)) ifelse(is.na(x), "null", ifelse(x, "true", "false"))
       else if (is.character(x)) paste0('"', gsub('"', '\\\\"', x), '"')
       else num_txt(as.numeric(x))
  if (length(x) == 1 && is.null(attr(x, "as_array"))) return(s)
  paste0("[", paste(s, collapse = ","), "]")
}
# a vector always written as a JSON array, even of length 1
arr <- function(x) { x <- unname(as.numeric(x)); attr(x, "as_array") <- TRUE; x }
# one number (NA when absent)
sc <- function(x) if (is.null(x) || length(x) == 0) NA_real_ else as.numeric(unname(x))[1]
