"""ECDH-PSI by the open algorithm protocol (PPCA ECDH-PSI v2, secretflow/interconnection)."""
