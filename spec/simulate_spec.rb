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
                                 lost unfinished])
    # Three dynos from the first call to the end of their jobs, the 30 s boot included.
    expect(report).to include("dyno_hours" => be_within(1e-9).of(3 * 90 / 3600.0), "wait_max" => 30.0,
                              "calls" => 2, "peak_workers" => 3, "killed" => 0)
    expect(report["cost"]).to be_within(1e-9).of(report["dyno_hours"] * 25.0 / 720)
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
