require "json"
require "rbconfig"

# JOBS_PER_WORKER=auto in real processes: the local formation stands in for
# Heroku, booting each new worker dyno only after a delay as Heroku does
# (`boot_delay`), and runs real Delayed Job workers on PostgreSQL; a
# watching process decides. Jobs of a known length run; the gem must
# measure them and the boot within 20% of the truth, and then size the
# formation by what it measured rather than by the fallback.
#
# The measuring intervals are a minute in an app; the spec's processes
# shorten them (Runtime::Measuring.write_every / read_every) so that it
# runs in seconds.
RSpec.describe "JOBS_PER_WORKER=auto, learned from the app's own jobs", time_limit: 150 do
  include_context "a postgres jobs database"

  let(:token) { "hk-learn-token-5e1a" }
  let(:boot_delay) { 5.0 }
  let(:job_seconds) { 2.0 }
  let(:dir) { Dir.mktmpdir("middle_management-learn").tap { |d| on_release { FileUtils.remove_entry(d) } } }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "MAX_WORKERS" => 3, "API_THROTTLE" => 0,
      "COUNT_INTERVAL" => 0.5 }
  end
  let(:setup) do
    <<~RUBY
      #{delayed_job_boot}
      require "middle_management"
      MiddleManagement::Runtime::Measuring.write_every = 1.0
      MiddleManagement::Runtime::Measuring.read_every = 0.5
    RUBY
  end

  before { clear_app_tables }

  def history(kind) = history_of(kind)

  def enqueue(heroku, jobs)
    script = "#{setup}\n#{jobs}.times { MiddleManagement::Slacker.delay.slack_for(#{job_seconds}) }\n" \
             "exit(MiddleManagement.flush(10) ? 0 : 1)"
    enqueuer = start_child(app_env(heroku, vars), RbConfig.ruby, "-e", script)
    expect(enqueuer.wait("the enqueuer to finish", timeout: 30)).to be_success, enqueuer.output
    enqueuer.output
  end

  def jobs_left = @model.connection.select_value("SELECT COUNT(*) FROM delayed_jobs").to_i

  it "measures the jobs and the boot within 20% and sizes the formation by them" do
    # The worker notes when it is ready to work (DJ's before(:execute), where the gem watches too).
    worker = File.join(dir, "worker.rb")
    File.write(worker, <<~RUBY)
      #{setup}
      Delayed::Worker.logger = Logger.new(nil)
      ready = Class.new(Delayed::Plugin) do
        callbacks { |lifecycle| lifecycle.before(:execute) { File.write(File.join(#{dir.inspect}, "ready-" + ENV["DYNO"]), Time.now.to_f.to_s) } }
      end
      Delayed::Worker.plugins << ready
      Delayed::Worker.new(sleep_delay: 0.2, quiet: true).start
    RUBY
    heroku, = start_formation(dir, "#{RbConfig.ruby} #{worker}", vars, token: token, grace: 5, boot_delay: boot_delay)
    watcher = start_child(app_env(heroku, vars), RbConfig.ruby, "-e",
                          "#{setup}\n$stdout.sync = true\nMiddleManagement.watch\nputs 'watching'\nsleep")
    await("the watcher to boot", saw: -> { watcher.output }) { watcher.output.include?("watching") }
    saw = -> { "samples #{history(:sample).last(2)}; boots #{history(:boot)}; jobs #{history(:jobs)}\n#{watcher.output}" }

    # Six jobs: the fallback (10 a worker) asks for one dyno, which boots and works them.
    enqueue(heroku, 6)
    learned = await("a decision sized by what was measured", timeout: 60, saw: saw) do
      history(:sample).map { |_at, figures| figures["jobs_per_worker"] }.compact.reject { |per| per == 10 }.first
    end
    await("every job done", timeout: 30, saw: saw) { jobs_left.zero? }

    raised = heroku.patches.find { |patch| JSON.parse(patch.body)["quantity"] == 1 }
    true_boot = Float(File.read(File.join(dir, "ready-worker.1"))) - raised.at.to_f
    measured = MiddleManagement::Measures.measured(
      [:jobs, :boot].flat_map do |kind|
        history(kind).map do |at, figures|
          MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: kind, at: at, figures: figures.transform_keys(&:to_sym))
        end
      end.sort_by(&:at), now: history(:jobs).last.first
    )
    expect(true_boot).to be >= boot_delay
    expect(measured.boot_seconds).to be_within(0.2 * true_boot).of(true_boot), saw.call
    expect(measured.job_seconds).to be_within(0.2 * job_seconds).of(job_seconds), saw.call
    # Sized by boot ÷ duration (the jobs a worker starts no later than a new dyno could), as measured when it decided.
    expect(learned).to be_between((0.8 * true_boot / (1.2 * job_seconds)).floor + 1, (1.2 * true_boot / (0.8 * job_seconds)).floor + 1)
    expect(history(:boot).map { |_at, figures| figures["dyno"] }).to eq(["worker.1"])

    # Nine more: by what was measured (about 3 a worker), three dynos; the fallback would ask for one.
    await("the formation back at 0", timeout: 30, saw: saw) { heroku.quantity("worker").zero? }
    enqueued = enqueue(heroku, 9)
    await("three workers", timeout: 30, saw: saw) { heroku.quantity("worker") == 3 }
    # Whichever process made the call (the enqueuer, the watcher, a worker) says why in its scale line.
    expect(enqueued + watcher.output + formation_log(dir))
      .to match(/scaled worker 0 -> 3 \(9 outstanding, #{learned} per worker: jobs take \d\.\d s, dynos boot in \d+(\.\d)? s\)/)
  end
end
