"""Screen and sound: the live dashboard, the terminal view, the metronome and the command line."""
