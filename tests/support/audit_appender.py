"""A separate OS process appending audit entries, for the multi-process concurrency test.

    python -m tests.support.audit_appender URL NAME TASKS PER_TASK EVERY

Connects, prints ``ready``, waits for a line on stdin (so every process starts appending at the
same moment), then runs TASKS asyncio tasks each appending PER_TASK entries in its own transaction.
"""

from __future__ import annotations

import asyncio
import sys

from idp.audit import CheckpointPolicy, append_audit
from idp.clock import SystemClock
from idp.keys import KeyRing
from idp.storage.db import build_engine, build_sessionmaker
from tests.support.audit import ISSUER, SECRET


async def main(url: str, name: str, tasks: int, per_task: int, every: int) -> None:
    engine = build_engine(url)
    sessionmaker = build_sessionmaker(engine)
    clock = SystemClock()
    keys = KeyRing(sessionmaker, SECRET.encode(), "ES256", clock)
    await keys.load(create_if_missing=False)
    policy = CheckpointPolicy(keys, ISSUER, every)

    async def worker(task: int) -> None:
        for n in range(per_task):
            async with sessionmaker() as session, session.begin():
                await append_audit(
                    session,
                    actor=f"proc:{name}",
                    action="test.append",
                    target=f"{name}/{task}/{n}",
                    detail={"process": name, "task": task, "n": n},
                    now=clock.now(),
                    checkpoints=policy,
                )
                await asyncio.sleep(0)  # hold the tail across a scheduling point before committing

    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    try:
        await asyncio.gather(*(worker(task) for task in range(tasks)))
    finally:
        await engine.dispose()


if __name__ == "__main__":
    url, name, tasks, per_task, every = sys.argv[1:6]
    asyncio.run(main(url, name, int(tasks), int(per_task), int(every)))
