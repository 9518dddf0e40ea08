"""The three problem types of a sequence classifier: one class, a number, or a set of labels."""
