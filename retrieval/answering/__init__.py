"""Questions out: the cited answer, who said what, time windows, outcomes, the optional writer."""
