"""Topic judgement: topics.toml, the rule engine, the classifier, tagging stored items, examples and evaluation."""
