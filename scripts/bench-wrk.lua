-- wrk script for scripts/bench-wrk: one unique Duve orderCreated per request (room 101, service "4").
-- Run with one wrk thread (-t1) so that the counter, and so every order id, is unique.
local n = 0
local head = '{"accountId": "6368c35588d770ea9b0ae2e1", "event": "orderCreated", "resource": {'
  .. '"sId": "-FaCfxErX", "externalId": "27e19639-ede9-4649-b6aa-aede00c069ce", '
  .. '"verifiedFirstName": "Bobby", "verifiedLastName": "Smith", "roomNumber": "101", '
  .. '"preferredLanguage": "en", "email": "bobby.smith@example.com", "phone": "+351912345678", '
  .. '"checkInDate": "2026-03-10", "checkOutDate": "2026-03-14", "adults": 2, "children": 0, '
  .. '"guestAppLink": "https://x.duve.co/g/-FaCfxErX", "order": {"id": "ord'
local middle = '", "orderId": 16801, "status": 0, "chargeAmount": 0, "currency": "USD", '
  .. '"createdAt": "2026-03-11T09:12:44.512Z", "source": "guest-app", '
  .. '"notes": "Two extra bath towels, please. We are out for dinner until nine, leave them at the door.", '
  .. '"products": [{"name": "Towel service", "externalId": "4", "quantity": 2, '
  .. '"price": 0, "category": "Housekeeping", "description": "Fresh bath and hand towels delivered to your room", '
  .. '"image": "https://cdn.duve.co/img/6368c35588d770ea9b0ae2e1/towels.jpg"}], '
  .. '"tags": ["housekeeping", "in-stay"], "meta": {"app": "duve-guest", "version": "5.12.0"}}, '
  .. '"id": "res'
local tail = '"}}'

wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["custom_hotel_id"] = os.getenv("WRK_HOTEL")
wrk.headers["custom_access_token"] = os.getenv("WRK_ACCESS")
wrk.headers["custom_password_token"] = os.getenv("WRK_PASSWORD")

request = function()
  n = n + 1
  local id = string.format("%012d", n)
  return wrk.format(nil, "/webhooks/duve", nil, head .. id .. middle .. id .. tail)
end

local codes = {}
response = function(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("requests %d, %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("non-2xx %d, socket errors connect %d read %d write %d timeout %d\n",
    summary.errors.status, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
