"""The BFIA control plane."""
