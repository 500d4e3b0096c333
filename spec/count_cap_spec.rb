# Counts that stop at the policy's cap decide as exact counts do: real
# Delayed Job rows on SQLite, counted both ways by the adapter, each count
# handed to the native engine's verdict. Around the cap (cap − 1, cap,
# cap + 1 runnable jobs), beside failed rows and jobs scheduled ahead,
# which neither count takes for runnable.
RSpec.describe "counts capped where the decision stops seeing" do
  before(:all) { DelayedJobDatabase.connect }
  before { DelayedJobDatabase.clear }

  let(:backend) { MiddleManagement::Backends::DelayedJob }

  def dispatcher_for(settings)
    config = MiddleManagement::Configuration.new
    config.heroku_app = "example"
    config.dry_run = true
    settings.each { |name, value| config.public_send(:"#{name}=", value) }
    config.validate!
    [config.pools.first, MiddleManagement::Internal::Native::Dispatcher.new(config.native_settings)]
  end

  def add_jobs(runnable:, running: 0, noise: 0)
    now = Delayed::Job.db_time_now
    row = { handler: "--- !ruby/object:Object {}\n", priority: 0, attempts: 0, run_at: now - 1,
            locked_at: nil, locked_by: nil, failed_at: nil }
    rows = Array.new(runnable) { row }
    rows += Array.new(running) { |i| row.merge(locked_at: now, locked_by: "worker.#{i + 1} host:x pid:#{i}") }
    rows += Array.new(noise) { row.merge(failed_at: now) } + Array.new(noise) { row.merge(run_at: now + 3600) }
    Delayed::Job.insert_all!(rows) if rows.any?
  end

  def verdict(dispatcher, pool, counts)
    busy = MiddleManagement::Runtime::BusyDynos.new(pool, counts.busy_dynos)
    @request ||= native_request(dispatcher)
    outcome = native_decide(dispatcher, @request, now_ms: 1_764_000_000_000, pools: [{
                              runnable: counts.runnable, running: counts.running, next_run_in: counts.next_run_in,
                              top_busy_dyno: busy.top, busy_unnumbered: busy.unnumbered?
                            }])
    v = outcome.pools.first
    { wanted: v.wanted, needed: v.needed, reason: v.reason, stops_busy: v.stops_busy }
  end

  {
    "the README chart (10 workers, 1 job each)" => [{ max_workers: 10, jobs_per_worker: 1 }, 11, 0],
    "10 jobs a worker" => [{ max_workers: 4, jobs_per_worker: 10 }, 41, 0],
    "a rules table, sized by its top row" => [{ max_workers: 10, rules: "1:1,50:3,120:8" }, 120, 0],
    "a rules table with rows past MAX_WORKERS" => [{ max_workers: 5, rules: "1:1,30:4,60:9,90:12" }, 60, 0],
    "the busy floor, with running jobs on numbered dynos" =>
      [{ max_workers: 10, jobs_per_worker: 3, dyno_concurrency: 2 }, 31, 7]
  }.each do |name, (settings, cap, running)|
    it "decides as the exact count does around the cap for #{name}" do
      pool, dispatcher = dispatcher_for(settings)
      expect(dispatcher.count_caps).to eq([cap])
      decisions = [cap - 1, cap, cap + 1].map do |runnable|
        DelayedJobDatabase.clear
        add_jobs(runnable: runnable, running: running, noise: 25)
        exact = backend.count(pool)
        capped = backend.count(pool, cap: cap)
        expect([exact.runnable, exact.running, exact.capped]).to eq([runnable, running, false])
        expect([capped.runnable, capped.running, capped.capped]).to eq([[runnable, cap].min, running, runnable >= cap])
        expect(capped.next_run_in).to be_within(5).of(3600)
        expect(verdict(dispatcher, pool, capped)).to eq(verdict(dispatcher, pool, exact)), "at #{runnable} runnable"
        verdict(dispatcher, pool, exact)
      end
      # Past the cap the exact counts decide alike too: the cap is where
      # more work stops mattering.
      expect(decisions.last(2).uniq.size).to eq(1)
    ensure
      dispatcher&.shutdown
    end
  end

  it "counts a job whose lock Delayed Job gave up on as runnable, up to the cap" do
    pool, dispatcher = dispatcher_for(max_workers: 2, jobs_per_worker: 1)
    stale = Delayed::Job.db_time_now - Delayed::Worker.max_run_time - 60
    add_jobs(runnable: 1)
    Delayed::Job.update_all(locked_at: stale, locked_by: "worker.1 host:x pid:1")
    add_jobs(runnable: 1)
    expect(backend.count(pool, cap: 3).to_h).to include(runnable: 2, running: 0, capped: false)
    add_jobs(runnable: 4)
    expect(backend.count(pool, cap: 3).to_h).to include(runnable: 4, capped: true)
  ensure
    dispatcher&.shutdown
  end
end
