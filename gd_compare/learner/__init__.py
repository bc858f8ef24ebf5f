"""What learners and instructors use: ``check`` of a learner's function with the first wrong
step and the mistake named (:mod:`.check`, :mod:`.mistakes`), the exercises and their
reference solutions."""
