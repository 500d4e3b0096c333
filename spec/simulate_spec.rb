require "json"
require "open3"
require "rbconfig"

# `middle_management simulate`, run as a user runs it: a CSV trace in, the
# figures out, decided by the compiled extension's own decision code.
RSpec.describe "middle_management simulate" do
  let(:exe) { File.expand_path("../exe/middle_management", __dir__) }
  let(:dir) { Dir.mktmpdir("middle_management-simulate").tap { |d| on_release { FileUtils.remove_entry(d) } } }

  def trace(text)
    File.join(dir, "trace.csv").tap { |path| File.write(path, text) }
  end

  # Up to ten dynos, one per job: sizes these small traces show.
  SIZING = ["--max-workers", "10", "--jobs-per-worker", "1"].freeze

  def simulate(*args)
    output, status = capture_within(RbConfig.ruby, exe, "simulate", *args, timeout: 30)
    [output, status]
  end

  it "prints the cost and the waits of three minute-long jobs as JSON" do
    output, status = simulate(trace("enqueued_at,duration\n0,60\n0,60\n0,60\n"), "--json", "--api-throttle", "10", *SIZING)
    expect(status).to be_success, output
    report = JSON.parse(output)
    expect(report.keys).to eq(%w[dyno_hours cost wait_p50 wait_p95 wait_max calls max_calls_per_hour peak_workers killed
                                 lost unfinished learned])
    expect(report["learned"]).to be_nil # a number set learns nothing
    # Three dynos from the first call to the end of their jobs, the 30 s boot included.
    expect(report).to include("dyno_hours" => be_within(1e-9).of(3 * 90 / 3600.0), "wait_max" => 30.0,
                              "calls" => 2, "peak_workers" => 3, "killed" => 0)
    expect(report["cost"]).to be_within(1e-9).of(report["dyno_hours"] * 25.0 / 720)
  end

  it "learns jobs per worker as the gem does by default, within 20% of the trace's durations and boot" do
    # Jobs of 2 to 6 s (4 s on average), one every 5 s for an hour; dynos boot in 40 s.
    rows = (0...720).map { |i| "#{i * 5},#{2 + (i % 5)}" }
    path = trace("enqueued_at,duration\n#{rows.join("\n")}\n")
    output, status = simulate(path, "--json", "--boot-time", "40")
    expect(status).to be_success, output
    learned = JSON.parse(output)["learned"]
    expect(learned["job_seconds"]).to be_within(0.2 * 4).of(4.0)
    expect(learned["boot_seconds"]).to be_within(0.2 * 40).of(40.0)
    # The jobs a worker starts no later than a new dyno could: at 0, 4, …, 40 s.
    expect(learned["jobs_per_worker"]).to eq((learned["boot_seconds"] / learned["job_seconds"]).floor + 1)
    table, = simulate(path, "--boot-time", "40")
    expect(table).to match(/learned +11 per worker: jobs take 4\.0 s, dynos boot in 40 s/)
  end

  # Jobs every 10 s or so for two hours, 20 s each on average: a queue that never settles.
  def unsettled_trace
    random = Random.new(3)
    at = 0.0
    rows = Array.new(720) { "#{(at += -Math.log(1 - random.rand) * 10).round(3)},#{(-Math.log(1 - random.rand) * 20).round(3)}" }
    trace("enqueued_at,duration\n#{rows.join("\n")}\n")
  end

  it "budgets the changes of a queue that never settles: 60 an hour on average, 10 at once" do
    path = unsettled_trace
    budgeted, = simulate(path, "--json", "--max-workers", "20")
    at_will, = simulate(path, "--json", "--max-workers", "20", "--changes-per-hour", "0")
    budgeted = JSON.parse(budgeted)
    at_will = JSON.parse(at_will)
    expect(at_will["calls"]).to be > 200
    # Two hours of jobs and the drain after them: a minute's change each, and the first burst.
    expect(budgeted["calls"]).to be <= 10 + (2.5 * 60)
    expect(budgeted["max_calls_per_hour"]).to be <= 60 + 10
    expect(budgeted["killed"]).to eq(0)
  end

  it "searches settings and prints the frontier beside the defaults and the peers" do
    output, status = simulate(unsettled_trace, "--grid", "--json", "--max-workers", "20")
    expect(status).to be_success, output
    grid = JSON.parse(output)
    expect(grid["searched"].values.map(&:size).inject(:*)).to eq(70)
    frontier = grid["frontier"]
    # Cheapest first, each dearer one waiting less: no point of it beats another.
    expect(frontier.map { |point| point["cost"] }).to eq(frontier.map { |point| point["cost"] }.sort)
    expect(frontier.each_cons(2).all? { |cheaper, dearer| dearer["wait_p95"] < cheaper["wait_p95"] }).to be(true)
    expect(grid["defaults"]).to include("name" => "the defaults", "changes" => be <= 160)
    cheapest = grid["cheapest_as_fast"]
    expect(cheapest["wait_p95"]).to be <= grid["defaults"]["wait_p95"]
    expect(grid["defaults_extra_percent"]).to be_within(0.1).of(((grid["defaults"]["cost"] / cheapest["cost"]) - 1) * 100)
    expect(grid["peers"].map { |peer| peer["name"] }).to eq(["hirefire", "hirefire --decrementable", "judoscale", "always-on"])

    table, = simulate(unsettled_trace, "--grid", "--max-workers", "20")
    expect(table).to include("searched 70 settings", "the frontier", "the defaults:", "against the cheapest setting waiting no longer at p95", "peers:")
  end

  it "reads ISO 8601 times and scheduled jobs, and prints a table by default" do
    output, status = simulate(trace(<<~CSV), "--boot-time", "20", "--price", "0.05")
      enqueued_at,duration,run_at,queue
      2026-12-01T10:00:00Z,10,2026-12-01T10:05:00Z,mailers
      2026-12-01T10:00:30Z,10,,default
    CSV
    expect(status).to be_success, output
    expect(output).to include("strategy ours", "at $0.0500 a dyno-hour", "formation calls", "jobs killed         0")
    # The scheduled job gets its dyno in time (no wait); the other waits for a boot.
    expect(output).to match(/job wait +p50 0\.0 s, p95 20\.0 s, max 20\.0 s/)
  end

  it "compares with a fixed formation and with the clairvoyant bound" do
    path = trace("enqueued_at,duration\n0,60\n0,60\n0,60\n")
    always, = simulate(path, "--json", "--strategy", "always-on", "--workers", "2")
    clairvoyant, = simulate(path, "--json", "--strategy", "clairvoyant")
    expect(JSON.parse(always)).to include("peak_workers" => 2, "wait_max" => 90.0)
    expect(JSON.parse(clairvoyant)).to include("wait_max" => 0.0, "calls" => 0)
  end

  it "models HireFire and Judoscale, which stop busy dynos where ours does not" do
    path = trace("enqueued_at,duration\n0,10\n0,10\n0,100\n0,100\n")
    reports = %w[ours hirefire judoscale].to_h do |strategy|
      output, status = simulate(path, "--json", "--strategy", strategy, "--decrementable", "--checkup", "60", *SIZING)
      expect(status).to be_success, output
      [strategy, JSON.parse(output)]
    end
    expect(reports.transform_values { |r| r["killed"] }).to eq("ours" => 0, "hirefire" => 2, "judoscale" => 0)
    expect(reports["judoscale"]["wait_max"]).to be > reports["ours"]["wait_max"] # one dyno, then one more every 3 minutes
  end

  it "replays with the gem's own defaults unless told otherwise" do
    path = trace("enqueued_at,duration\n0,60\n0,60\n0,60\n")
    defaults = JSON.parse(simulate(path, "--json").first)
    told = JSON.parse(simulate(path, "--json", "--max-workers", "1", "--jobs-per-worker", "10").first)
    expect(defaults).to eq(told)
    expect(defaults["peak_workers"]).to eq(MiddleManagement::Configuration.new.max_workers)
    expect(JSON.parse(simulate(path, "--json", *SIZING).first)["peak_workers"]).to eq(3)
  end

  it "ends on every trace with every strategy, however often a strategy kills a long job" do
    # Judoscale's model stops a dyno after ten calm minutes, busy or not: the
    # 700 s job is stopped each time it runs, until it is given up. (The
    # hour-long one runs on the dyno its scale-downs keep.)
    path = trace("enqueued_at,duration\n0,700\n0,10\n60,3600\n")
    reports = %w[ours always-on clairvoyant hirefire judoscale].to_h do |strategy|
      output, status = simulate(path, "--json", "--strategy", strategy)
      expect(status).to be_success, output
      [strategy, JSON.parse(output)]
    end
    expect(reports["judoscale"]).to include("killed" => MiddleManagement::Internal::Native::MAX_ATTEMPTS, "lost" => 1,
                                            "unfinished" => 0)
    expect(reports.except("judoscale").transform_values { |r| r.values_at("lost", "unfinished") }.values.uniq).to eq([[0, 0]])
    table, = simulate(path, "--strategy", "judoscale")
    expect(table).to include("jobs given up       1 (stopped 25 times, as Delayed Job gives up)")
  end

  it "stops at SIGTERM, even within the native replay" do
    # A job no worker may take (MAX_WORKERS 0), looked at every millisecond
    # of virtual time until the replay gives up a day later: some 86 million
    # decisions, tens of seconds of replay. (What `middle_management
    # simulate` calls, without the trace to read first.)
    simulator = start_child({}, RbConfig.ruby, "-e", <<~RUBY)
      $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}
      require "middle_management"
      config = MiddleManagement::Configuration.new
      { heroku_app: "simulation", heroku_api_key: "none", dry_run: true, max_workers: 0, count_interval: 0.001 }
        .each { |name, value| config.public_send(:"\#{name}=", value) }
      options = MiddleManagement::Internal::Bridge::Simulation.new(strategy: "ours", boot_time: 30.0, grace: 30.0, price: 0.03)
      $stdout.puts "replaying"
      $stdout.flush
      MiddleManagement::Internal::Native.simulate(config.native_settings, [0.0, 0.0, 1.0], options)
      $stdout.puts "replayed"
    RUBY
    await("the simulator to start its replay", saw: -> { simulator.output }) { simulator.output.include?("replaying") }
    sleep 0.5 # into the replay
    Process.kill("TERM", simulator.pid)
    status = simulator.wait("the simulator to stop at SIGTERM", timeout: 5)
    expect(status.termsig).to eq(Signal.list["TERM"]), "#{status.inspect}: #{simulator.output}"
    expect(simulator.output).not_to include("replayed")
  end

  it "names the line, the column or the flag that is wrong" do
    output, status = simulate(trace("enqueued_at,duration\n0,soon\n"))
    expect([status.exitstatus, output]).to match([64, /trace\.csv:2: duration must be seconds \(got "soon"\)/])
    output, status = simulate(trace("when,duration\n0,1\n"))
    expect([status.exitstatus, output]).to match([64, /has no enqueued_at column/])
    output, status = simulate(trace("enqueued_at,duration\n0,1\n"), "--max-workers", "lots")
    expect([status.exitstatus, output]).to match([64, /--max-workers must be a whole number/])
    output, status = simulate(trace("enqueued_at,duration\n0,1\n"), "--strategy", "rails-autoscale")
    expect([status.exitstatus, output]).to match([64, /rails-autoscale: the strategies are ours, hirefire, judoscale/])
  end
end
