"""The benchmark's parts: processes on pinned cores, wrk, the peers (nginx, node), Gerbang via its CLI, the report."""
