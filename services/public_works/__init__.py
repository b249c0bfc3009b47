"""Public Works (Dinas PUPR): works tickets from housing flags."""
