"""An independent client of the NATS micro protocol (nats-py's parsers of its replies), as
`nats micro info vod` and `nats micro stats vod` ask: finds the vod service, reads its info and
stats, and sends one bad request. Prints what it found as JSON.

    micro_client.py NATS_URL USER PASSWORD
"""

import asyncio
import json
import re
import sys

import nats
from nats.micro.service import ServiceInfo, ServicePing, ServiceStats


async def main(url, user, password):
    client = await nats.connect(url, user=user, password=password)
    ping = ServicePing.from_dict(json.loads((await client.request("$SRV.PING.vod", b"", timeout=5)).data))
    info = ServiceInfo.from_dict(json.loads((await client.request("$SRV.INFO.vod", b"", timeout=5)).data))
    site = info.metadata["site"]
    prefix = info.metadata["subject_prefix"]
    await client.request(f"{prefix}.{site}.cmd.state", b"{}", timeout=10)
    bad = await client.request(f"{prefix}.{site}.cmd.config.get", b'{"no": "such field"}', timeout=5)
    stats = json.loads((await client.request("$SRV.STATS.vod", b"", timeout=5)).data)
    # nats-py 2.15 reads `started` with microseconds at most; the Go and Rust services write
    # RFC 3339 with nanoseconds.
    stats["started"] = re.sub(r"(\.\d{6})\d*Z$", r"\1Z", stats["started"])
    # async-nats 0.51 leaves the service's metadata out of its STATS reply (the protocol has it).
    stats_metadata = "metadata" in stats
    stats.setdefault("metadata", info.metadata)
    stats = ServiceStats.from_dict(stats)
    state = next(endpoint for endpoint in stats.endpoints if endpoint.subject.endswith(".cmd.state"))
    await client.close()
    print(json.dumps({
        "name": info.name,
        "ping_id_matches": ping.id == info.id,
        "site": site,
        "endpoints": len(info.endpoints),
        "bad_request_code": (bad.headers or {}).get("Nats-Service-Error-Code"),
        "bad_request_body": json.loads(bad.data),
        "state_requests": state.num_requests,
        "stats_metadata": stats_metadata,
    }))


asyncio.run(main(*sys.argv[1:4]))
