-- wrk driver for bench/api.sh: replays pre-signed raw requests (written by bench/api_sign.py to
-- the file BENCH_REQUESTS), each thread rotating through the whole set from its own offset.
-- Each thread counts its own 200s and failures; done() sums them, since wrk's own summary only
-- counts non-2xx/3xx and the bench needs to know exactly how many requests the server acknowledged.
local requests = dofile(os.getenv("BENCH_REQUESTS"))
local count = #requests
local threads = {}

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    ok = 0
    failed = 0
    first_failure = ""
    -- Threads start apart so their connections send different requests at the same time.
    local threads_total = tonumber(os.getenv("BENCH_THREADS") or "1")
    position = math.floor(id * count / threads_total) % count
end

function request()
    position = position % count + 1
    return requests[position]
end

function response(status, headers, body)
    if status == 200 then
        ok = ok + 1
    else
        failed = failed + 1
        if first_failure == "" then
            first_failure = status .. " " .. string.sub(body or "", 1, 300)
        end
    end
end

function done(summary, latency, requests)
    local total_ok, total_failed, first = 0, 0, ""
    for _, thread in ipairs(threads) do
        total_ok = total_ok + thread:get("ok")
        total_failed = total_failed + thread:get("failed")
        if first == "" then first = thread:get("first_failure") end
    end
    io.write(string.format("bench_ok: %d\nbench_failed: %d\n", total_ok, total_failed))
    if first ~= "" then io.write("bench_first_failure: " .. first .. "\n") end
end
