"""Backend adapters, one subpackage each; imported only through the registry."""
