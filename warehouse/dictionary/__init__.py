"""The data dictionary: docs/data-dictionary.md from the table definitions and dictionary.toml.

The page walks whatever ``warehouse.schema`` defines (every table of ``metadata``, every view of
``VIEWS``), so a column added there without a description in dictionary.toml is a problem that
``dictionary_problems`` names and ``render_dictionary`` refuses to hide. Then come the indicator
catalog, the zone registry, the evaluation method and the audit rules, read from the files the
pipeline itself uses. The output has no timestamps: the same inputs render the same bytes.

``python -m warehouse.dictionary [PATH]`` regenerates the page. One job per module:
``descriptions`` (what the database defines and what dictionary.toml says of it), ``check`` (every
way dictionary.toml lags the schema or the code's vocabularies), ``render`` (the page itself).
"""
