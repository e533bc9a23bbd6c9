"""Tables (markdown, CSV, JSON), results READMEs and figures: the only writers of reports."""
