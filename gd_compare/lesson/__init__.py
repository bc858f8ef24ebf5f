"""The lesson itself: its data, its concepts, and what both backends share (the
training runs' set-up, the optimizer options, data-parallel sharding). Imports no backend."""
