"""Tables and reports: our numbers rendered beside the paper's."""
