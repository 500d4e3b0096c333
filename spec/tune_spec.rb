require "json"
require "rbconfig"
require "redis"
require "middle_management/tuning"
require "middle_management/tuning/cli"

# `rake middle_management:tune` and `middle_management tune`, run as users
# run them, on a day of history in the app's own store: a real PostgreSQL
# (Delayed Job's), a real Redis (Sidekiq's). The day is written as the gem
# writes it (HistoryDay: a row a look, a row per worker a minute), from a
# trace whose every job is known, so that the simulator can check the
# recommendation against the jobs themselves, which the history never held.
RSpec.describe "tuning on the app's own traffic" do
  let(:exe) { File.expand_path("../exe/middle_management", __dir__) }
  let(:dir) { Dir.mktmpdir("middle_management-tune").tap { |d| on_release { FileUtils.remove_entry(d) } } }

  DAY_S = 86_400
  BOOT = 25 # seconds, as the day's :boot rows say
  # What the app has set: a dyno per job, every change at once.
  SETTINGS = { "JOBS_PER_WORKER" => "1", "MAX_WORKERS" => "10", "SCALE_DOWN_DELAY" => "0", "CHANGES_PER_HOUR" => "0" }.freeze

  # A day of 8,000 jobs arriving at random, 5 s each on average, served by
  # three dynos: [enqueued_at, duration] in seconds.
  def day_of_jobs
    random = Random.new(7)
    at = 0.0
    Array.new(8_000) { [at += -Math.log(1 - random.rand) * DAY_S / 8_000, -Math.log(1 - random.rand) * 5] }
  end

  def now_ms = Process.clock_gettime(Process::CLOCK_REALTIME, :millisecond)

  # The day, ending a minute ago, in `store`; the jobs as a trace file.
  def fill(store, jobs = day_of_jobs)
    entries = HistoryDay.entries(jobs, workers: 3, start_ms: now_ms - ((DAY_S - 120) * 1000), boot: BOOT)
    entries.each_slice(1_000) { |slice| store.record_history(slice) }
    File.join(dir, "day.csv").tap do |path|
      File.write(path, "enqueued_at,duration\n#{jobs.map { |at, seconds| "#{at},#{seconds}" }.join("\n")}\n")
    end
  end

  def env(settings = SETTINGS)
    settings.to_h { |name, value| ["MIDDLE_MANAGEMENT_#{name}", value] }.merge("MIDDLE_MANAGEMENT_HEROKU_APP" => "tuned-app")
  end

  # The MIDDLE_MANAGEMENT_* lines a tune printed, as the simulator's flags over the app's.
  def recommended(output)
    set = output.scan(/^  MIDDLE_MANAGEMENT_(\w+)=(\S+)$/).to_h
    expect(set).not_to be_empty, "no setting recommended in:\n#{output}"
    SETTINGS.merge(set)
  end

  def simulate(trace, settings)
    flags = settings.flat_map { |name, value| ["--#{name.downcase.tr("_", "-")}", value] }
    output, status = capture_within(RbConfig.ruby, exe, "simulate", trace, "--json", "--boot-time", BOOT.to_s, *flags,
                                    timeout: 60)
    expect(status).to be_success, output
    JSON.parse(output)
  end

  # On the day's real jobs: cheaper, and no slower at p95 than the blur of
  # a rebuild allows (arrivals are spread over their minute).
  def expect_confirmed(trace, output)
    yours = simulate(trace, SETTINGS)
    theirs = simulate(trace, recommended(output))
    expect(theirs["cost"]).to be < yours["cost"] * 0.9, "recommended #{theirs} against yours #{yours}"
    expect(theirs["wait_p95"]).to be <= (yours["wait_p95"] * 1.1) + 2, "recommended #{theirs} against yours #{yours}"
  end

  it "rebuilds the day's jobs from the history: their number, when they came, how long they took" do
    jobs = day_of_jobs
    start = 1_800_000_000_000
    entries = HistoryDay.entries(jobs, workers: 3, start_ms: start, boot: BOOT)
    rebuild = MiddleManagement::Tuning::Rebuild.new(entries, from: start, to: start + (DAY_S * 1000))
    rebuilt = rebuild.trace.jobs
    expect(rebuilt.size).to eq(jobs.size) # the day ends with the queue empty
    hours = ->(times) { times.group_by { |at| (at / 3600).floor }.transform_values(&:size) }
    truth = hours.call(jobs.map(&:first))
    hours.call(rebuilt.map(&:enqueued_at)).each do |hour, count|
      expect(count).to be_within([truth.fetch(hour, 0) * 0.05, 3].max).of(truth.fetch(hour, 0)), "hour #{hour}"
    end
    expect(rebuild.mean_seconds).to be_within(1e-6).of(jobs.sum(&:last) / jobs.size)
    expect(rebuilt.map(&:duration).max).to be_within(1e-3).of(jobs.map(&:last).max)
    expect([rebuild.boot_seconds, rebuild.boots]).to eq([BOOT.to_f, 24])
  end

  it "keeps a burst where the looks saw it, whenever each worker writes its minute, and skips rows no gem wrote" do
    start = 1_800_000_000_000
    # Thirty 1 s jobs at 130 s among a trickle, on ten dynos.
    jobs = Array.new(30) { [130.0, 1.0] } + [[0.0, 0.5], [400.0, 0.5]]
    entries = HistoryDay.entries(jobs, workers: 10, start_ms: start, boot: 25)
    entry = ->(kind, at, figures) { MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: kind, at: at, figures: figures) }
    entries += [entry.call(:jobs, start + 200_000, done: "3", seconds: [1], longest: nil),
                entry.call(:sample, start + 201_000, runnable: { n: 1 }, running: 0),
                entry.call(:boot, start + 202_000, dyno: "worker.1", raised_at: "soon")]
    rebuild = MiddleManagement::Tuning::Rebuild.new(entries.sort_by(&:at), from: start, to: start + 600_000)
    arrivals = rebuild.trace.jobs.map(&:enqueued_at)
    expect(arrivals.size).to eq(32)
    expect(arrivals.count { |at| at.between?(129.0, 130.0) }).to eq(30), arrivals.inspect
    expect([rebuild.jobs_done, rebuild.boots]).to eq([32, 1])
  end

  it "replays a job scheduled ahead as enqueued when a look first saw it coming" do
    start = 1_800_000_000_000
    # A reminder enqueued at 10 s to run at 300 s, among jobs that come when they run.
    jobs = [[0.0, 1.0, nil], [10.0, 2.0, 300.0], [100.0, 1.0, nil], [500.0, 1.0, nil]]
    entries = HistoryDay.entries(jobs, workers: 1, start_ms: start, boot: 25)
    expect(entries.map { |entry| entry.figures[:next_run_in] }.compact).to include(290.0)
    rebuilt = MiddleManagement::Tuning::Rebuild.new(entries, from: start, to: start + 600_000).trace.jobs
    reminder = rebuilt.find { |job| job.due_at.between?(299.0, 300.0) }
    expect(reminder&.enqueued_at).to eq(10.0), rebuilt.inspect
    expect(rebuilt.reject { |job| job.equal?(reminder) }).to all(satisfy { |job| job.enqueued_at == job.due_at })
  end

  it "prints only the settings that change, and marks the app-wide ones where pools share them" do
    start = 1_800_000_000_000
    jobs = (0...720).map { |i| [i * 10.0, 3.0] }
    history = HistoryDay.entries(jobs, workers: 1, start_ms: start, boot: 20)
    config = MiddleManagement::Configuration.from_env("MIDDLE_MANAGEMENT_MAX_WORKERS" => "5")
    config.pool("reports", queues: %w[reports], max: 5, jobs_per_worker: 1)
    advice = config.pools.map do |pool|
      MiddleManagement::Tuning.recommend(config, pool, now_ms: start + 7_200_000) { history }.changes
    end
    expect(advice.first).not_to include(start_with("MIDDLE_MANAGEMENT_JOBS_PER_WORKER=auto")) # already auto
    expect(advice.flatten.grep(/SCALE_DOWN_DELAY|CHANGES_PER_HOUR/)).to all(end_with("(app-wide: every pool)"))
    expect(advice.last).to include(start_with('jobs_per_worker: ')).and(include(end_with('in the c.pool "reports", ... call')))
  end

  it "says there is nothing to tune on without the store, or with a history that is not installed" do
    config = MiddleManagement::Configuration.new
    expect { MiddleManagement::Tuning.app(config, MiddleManagement::Store::Local.new, now_ms: now_ms) }
      .to raise_error(MiddleManagement::Tuning::Error, /no history to tune on: the coordination store is not installed/)
    empty = Class.new(ActiveRecord::Base) do
      self.abstract_class = true
      define_singleton_method(:name) { "EmptyDatabase" }
    end
    empty.establish_connection(adapter: "sqlite3", database: ":memory:")
    expect { MiddleManagement::Tuning.app(config, MiddleManagement::Store::SQL.new(empty), now_ms: now_ms) }
      .to raise_error(MiddleManagement::Tuning::Error, MiddleManagement::Store::SQLHistory::MISSING)
  ensure
    empty&.remove_connection
  end

  context "with Delayed Job on PostgreSQL" do
    include_context "a postgres jobs database"

    before { clear_app_tables }

    let(:store) { MiddleManagement::Store::SQL.new(@model) }

    it "rake middle_management:tune prints a recommendation that the simulator confirms" do
      trace = fill(store)
      output, status = capture_within(env, RbConfig.ruby, "-e", <<~RUBY, timeout: 120)
        #{delayed_job_boot}
        require "middle_management"
        require "rake"
        load "middle_management/tasks.rake"
        Rake::Task["middle_management:tune"].invoke
      RUBY
      expect(status).to be_success, output
      jobs = day_of_jobs
      mean = MiddleManagement::Measures.seconds(jobs.sum(&:last) / jobs.size)
      expect(output).to match(/pool worker: 8000 jobs rebuilt from .*; jobs take #{mean}; dynos boot in 25 s \(24 boots\)/)
      expect(output).to include("recommended: ", "your settings:", "hirefire", "judoscale", "always-on")
      expect_confirmed(trace, output)
    end

    it "middle_management tune --database-url prints the same, and writes the jobs it rebuilt for the simulator" do
      fill(store)
      rebuilt = File.join(dir, "rebuilt.csv")
      output, status = capture_within(env, RbConfig.ruby, exe, "tune", "--database-url", postgres_server.url,
                                      "--trace-out", rebuilt, "--json", timeout: 120)
      expect(status).to be_success, output
      result = JSON.parse(output.lines.last).first
      expect(result).to include("pool" => "worker", "boot_seconds" => 25.0, "boots" => 24)
      # The file and the flags it names give the recommended row again, to the cent.
      flags = output[/check with middle_management simulate \S+ (.*)$/, 1].split
      replayed, status = capture_within(RbConfig.ruby, exe, "simulate", rebuilt, "--json", *flags, timeout: 60)
      expect(status).to be_success, replayed
      expect(JSON.parse(replayed)).to include("cost" => be_within(1e-9).of(result["recommended"]["cost"]),
                                              "wait_p95" => result["recommended"]["wait_p95"])
    end

    it "the page shows the same, replayed off the request's thread" do
      fill(store)
      web = { "MIDDLE_MANAGEMENT_WEB_USERNAME" => "ops", "MIDDLE_MANAGEMENT_WEB_PASSWORD" => "tune-page-pass" }
      output, status = capture_within(env.merge(web), RbConfig.ruby, "-e", <<~RUBY, timeout: 120)
        #{delayed_job_boot}
        require "middle_management"
        require "rack/mock"
        get = lambda do
          response = Rack::MockRequest.new(MiddleManagement::Web).get("/status.json", "HTTP_AUTHORIZATION" => "Basic \#{["ops:tune-page-pass"].pack("m0")}")
          JSON.parse(response.body)["pools"].first["tuning"]
        end
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        first = get.call
        puts "first answer in \#{(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).round(3)} s: \#{first["state"]}"
        puts "on its own thread: \#{Thread.list.map(&:name).include?("middle_management tune")}"
        MiddleManagement.agent.tuner.wait(60) or abort "no tuning within 60 s"
        puts "then: \#{JSON.generate(get.call)}"
      RUBY
      expect(status).to be_success, output
      expect(output).to include("computing", "on its own thread: true")
      tuning = JSON.parse(output[/^then: (.*)$/, 1])
      expect(tuning).to include("state" => "ready", "boot_seconds" => 25.0, "changes" => include(/\AMIDDLE_MANAGEMENT_/))
      expect(tuning["recommended"]["cost"]).to be < tuning["yours"]["cost"]
    end

    it "says why it cannot tune: no job in the history, a database it cannot open" do
      output, status = capture_within(env, RbConfig.ruby, exe, "tune", "--database-url", postgres_server.url, timeout: 60)
      expect(status.exitstatus).to eq(1), output
      expect(output).to include("pool worker: no job ended in the history of the last 1 day")
      url = "postgres://tuner:pa55-w0rd-secret@127.0.0.1:#{ThrowawayServer.free_port}/nothing"
      output, status = capture_within(env, RbConfig.ruby, exe, "tune", "--database-url", url, timeout: 60)
      expect(status.exitstatus).to eq(1), output
      expect(output).to include("middle_management tune: could not open --database-url")
      expect(output).not_to include("pa55-w0rd-secret")
      output, status = capture_within(env, RbConfig.ruby, exe, "tune", timeout: 60)
      expect(status.exitstatus).to eq(64), output
      expect(output).to include("--database-url URL or --redis-url URL: where the app keeps its history")
    end
  end

  context "with Sidekiq's Redis" do
    include_context "a redis server"

    it "middle_management tune --redis-url reads the app's history there" do
      redis = Redis.new(url: redis_server.url)
      redis.flushdb
      trace = fill(MiddleManagement::Store::Redis.new("tuned-app") { |&block| block.call(redis) })
      output, status = capture_within(env, RbConfig.ruby, exe, "tune", "--redis-url", redis_server.url, timeout: 120)
      expect(status).to be_success, output
      expect(output).to include("pool worker: ", "dynos boot in 25 s (24 boots)")
      expect_confirmed(trace, output)
      output, status = capture_within(env.merge("MIDDLE_MANAGEMENT_HEROKU_APP" => "another-app"), RbConfig.ruby, exe,
                                      "tune", "--redis-url", redis_server.url, timeout: 60)
      expect(status.exitstatus).to eq(1), output
      expect(output).to include("no job ended in the history")
      down = RedisServer.closed_url.sub("redis://", "redis://:r3dis-pa55%23word@")
      output, status = capture_within(env, RbConfig.ruby, exe, "tune", "--redis-url", down, timeout: 60)
      expect(status.exitstatus).to eq(1), output
      expect(output).to include("middle_management tune: could not open --redis-url")
      expect(output).not_to include("r3dis-pa55")
    end
  end
end
