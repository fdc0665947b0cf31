"""The `statistics` component: per-column summary statistics of a party's dataset, local to each party."""
