from tests.warehouse.backends import make_warehouse

__all__ = ["make_warehouse"]
