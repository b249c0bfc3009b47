"""``python -m health_office``: run the consumer until SIGINT or SIGTERM."""

import asyncio
import logging
import signal

from health_office.consumer import Config, run


async def main() -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await run(Config.from_env(), stop)


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
asyncio.run(main())
