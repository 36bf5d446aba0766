"""Evaluations shared by every method: long-horizon prediction error (and, later, reward via MPC)."""
