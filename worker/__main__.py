"""``payments worker``."""

from payments_engine.worker.main import main

main()
