"""Jobs: train, explain, evaluate, report — each a function of a composed config and a run dir."""
