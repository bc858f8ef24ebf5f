"""The proof that the two backends agree: the harness runs both in lockstep
(:mod:`.harness`), records and judges every step (:mod:`.tracking`, :mod:`.verdict`), and
checks each gradient against finite differences (:mod:`.gradcheck`)."""
