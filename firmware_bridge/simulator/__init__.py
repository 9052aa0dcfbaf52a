"""The simulated runner: a physical model of gait, its sensors and its ground truth."""
