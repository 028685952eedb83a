"""The OpenAPI-generator stack the vendors ship: urllib3 (PoolManager, a
thread pool for concurrency) and json. usage: python3 peer.py SCENARIO BASE N [CONCURRENCY]"""
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import urllib3

scenario, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
conc = int(sys.argv[4]) if len(sys.argv) > 4 else 1
pool = urllib3.PoolManager(maxsize=max(conc, 1))
headers = {"Authorization": "Apikey bench-key", "Accept": "application/json"}

t0 = time.monotonic()
if scenario == "S1":
    for i in range(1, n + 1):
        r = pool.request("GET", "%s/users/user%07d/" % (base, i % 5000 + 1), headers=headers)
        assert r.status == 200 and json.loads(r.data)
elif scenario == "S2":
    count, offset = 0, 0
    while count < n:
        r = pool.request("GET", "%s/users/?limit=100&offset=%d" % (base, offset), headers=headers)
        for _ in json.loads(r.data)["results"]:
            count += 1
        offset += 100
elif scenario == "S3":
    def delete(i):
        r = pool.request("DELETE", "%s/users/user%07d/" % (base, i), headers=headers)
        assert r.status == 204
    with ThreadPoolExecutor(max_workers=conc) as ex:
        list(ex.map(delete, range(1, n + 1)))
print("RESULT %s %.3f %d" % (scenario, time.monotonic() - t0, n))
