"""The in-graph tokenizers: parity with the fast tokenizers on real text, and their serving cost."""
