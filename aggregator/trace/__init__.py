"""Trace a text to the stored items its claims could rest on, in English and Spanish, and the outlets it names."""
