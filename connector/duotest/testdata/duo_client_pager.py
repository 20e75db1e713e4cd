"""Pages through the fake Duo Admin API with Duo's own Python client.

Usage: duo_client_pager.py HOST IKEY SKEY CA_FILE MINTIME_S MAXTIME_S VARIANT

VARIANT selects the signature: sha1 (the client's default, v2 canonical
string), sha512 (v2 string), v4 (JSON-era string, SHA-512). Prints one JSON
object: the records of each log as the client returned them, less the
eventtype/host keys the client adds.
"""
import hashlib
import json
import sys

import duo_client

host, ikey, skey, ca, mins, maxs, variant = sys.argv[1:8]
mins, maxs = int(mins), int(maxs)
kwargs = {}
if variant == "sha512":
    kwargs["digestmod"] = hashlib.sha512
elif variant == "v4":
    kwargs.update(digestmod=hashlib.sha512, sig_version=4)
# Duo's client checks the certificate's DNS names only: use localhost.
port = host.rsplit(":", 1)[1]
admin = duo_client.Admin(ikey=ikey, skey=skey, host="localhost", port=int(port), ca_certs=ca, **kwargs)


def strip(rows):
    for r in rows:
        r.pop("eventtype", None)
        r.pop("host", None)
    return rows


out = {}

# Authentication logs v2: next_offset handed back as the client gets it.
auth, args = [], dict(api_version=2, mintime=mins * 1000, maxtime=maxs * 1000, limit="1000", sort="ts:asc")
while True:
    resp = admin.get_authentication_log(**args)
    auth += resp["authlogs"]
    offset = resp["metadata"].get("next_offset")
    if not offset:
        break
    args["next_offset"] = offset
out["auth"] = strip(auth)


# v1 logs: the documented pattern, mintime = max(timestamp) + 1 while full.
def page_v1(fetch):
    rows, mintime = [], mins
    while True:
        page = fetch(mintime=mintime)
        rows += [r for r in page if r["timestamp"] <= maxs]
        if len(page) < 1000:
            return rows
        mintime = max(r["timestamp"] for r in page) + 1


# Activity logs: next_offset (a string) handed back as the client gets it.
activity, args = [], dict(mintime=mins * 1000, maxtime=maxs * 1000, limit="1000", sort="ts:asc")
while True:
    resp = admin.get_activity_logs(**args)
    activity += resp["items"]
    offset = resp["metadata"].get("next_offset")
    if not offset:
        break
    args["next_offset"] = offset
out["activity"] = strip(activity)

# Trust Monitor: the cursor goes back as offset, pages of at most 200.
events, offset = [], None
while True:
    resp = admin.get_trust_monitor_events_by_offset(mins * 1000, maxs * 1000, limit=200, offset=offset)
    events += resp["events"]
    offset = resp["metadata"].get("next_offset")
    if not offset:
        break
out["trust_monitor"] = strip(events)

out["admin"] = strip(page_v1(admin.get_administrator_log))
out["offline"] = strip(page_v1(admin.get_offline_log))
out["telephony_v1"] = strip(page_v1(admin.get_telephony_log))
json.dump(out, sys.stdout)
