"""What people see: the table ``gd-compare`` prints, the plots, side-by-side listings for
the notebooks."""
