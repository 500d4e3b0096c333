require "json"
require "rbconfig"
require "redis"

# Heroku stops the highest-numbered dynos first, busy or not. With real
# workers of each job library under the local formation (SIGKILL 1.5 s after
# SIGTERM) and the app's store: no scale-down may stop a dyno that works a
# job, and the formation must still shrink as soon as the dynos at the top
# are idle.
RSpec.describe "busy dynos" do
  let(:lib) { File.expand_path("../lib", __dir__) }
  let(:token) { "hk-busy-dynos-token-81c2" }
  let(:dir) { Dir.mktmpdir("middle_management-busy").tap { |d| on_release { FileUtils.remove_entry(d) } } }
  let(:runs_log) { File.join(dir, "runs.log") }
  let(:vars) do
    { "HEROKU_APP" => LocalApp::APP, "HEROKU_API_KEY" => token, "MIN_WORKERS" => 0, "MAX_WORKERS" => 4,
      "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 1, "SCALE_DOWN_DELAY" => 0, "COUNT_INTERVAL" => 2 }
  end
  let(:long_job) { 9 } # seconds
  let(:grace) { 1.5 } # SIGTERM to SIGKILL: far shorter than a long job
  # Each library's job calls this: long on the dynos named, short elsewhere,
  # each run logged with its dyno.
  let(:timed_run) do
    <<~RUBY
      $stdout.sync = true
      def timed_run(id, long_on, log)
        dyno = ENV.fetch("DYNO")
        File.open(log, "a") { |f| f.puts ["start", id, dyno, Time.now.to_f].join(" ") }
        sleep(long_on.include?(dyno) ? #{long_job} : 1.5)
        File.open(log, "a") { |f| f.puts ["end", id, dyno, Time.now.to_f].join(" ") }
      end
    RUBY
  end

  # Starts the formation running `worker_command`, and enqueues from a
  # process that then exits.
  def enqueue(code)
    heroku, supervisor = start_formation(dir, worker_command, vars, token: token, grace: grace)
    enqueuer = start_child(app_env(heroku, vars), RbConfig.ruby, "-e", "#{setup}\n#{code}")
    expect(enqueuer.wait("the enqueuer to exit", timeout: 30)).to be_success, enqueuer.output
    [heroku, supervisor]
  end

  def script(name, code)
    File.join(dir, name).tap { |path| File.write(path, code) }
  end

  # [job id, dyno, started, ended or nil], from the jobs' own log.
  def runs
    lines = File.exist?(runs_log) ? File.readlines(runs_log).map(&:split) : []
    lines.select { |event, *| event == "start" }.map do |_, id, dyno, started|
      ended = lines.find { |event, other, on| event == "end" && other == id && on == dyno }
      [id, dyno, started.to_f, ended && ended[3].to_f]
    end
  end

  # [time, quantity] of each formation change Heroku accepted.
  def changes(heroku)
    heroku.patches.select { |patch| patch.status == 200 }.map { |patch| [patch.at.to_f, JSON.parse(patch.body)["quantity"]] }
  end

  def expect_all_done(heroku, supervisor, count)
    await("every job done and the formation back at 0", timeout: 60,
          saw: -> { "runs #{runs.map { |id, dyno, _, ended| "#{id}@#{dyno}#{"…" unless ended}" }}, " \
                    "formation #{changes(heroku).map(&:last)}\n#{formation_log(dir).lines.last(20).join}" }) do
      runs.count { |*, ended| ended } >= count && idle? && heroku.quantity("worker").zero?
    end
    await("the workers to stop", timeout: 15) { supervisor.running("worker").zero? }
    expect(runs.map(&:first).sort).to eq((0...count).map(&:to_s).sort), "each job ran once, to its end"
    expect(formation_log(dir)).not_to include("SIGKILL")
  end

  # No formation below a dyno's number while it worked a job.
  def expect_no_busy_dyno_stopped(heroku)
    runs.each do |id, dyno, started, ended|
      number = Integer(dyno[/\d+\z/])
      cut = changes(heroku).find { |at, quantity| at > started && at < ended && quantity < number }
      expect(cut).to be_nil, "job #{id} ran on #{dyno} from #{started} to #{ended}; the formation went to #{cut&.last}"
    end
  end

  shared_examples "a formation that never stops a busy dyno" do
    it "keeps the dynos that work long jobs, and shrinks once they are done", time_limit: 90 do
      heroku, supervisor = enqueue(enqueue_jobs(jobs, %w[worker.3 worker.4]))
      expect_all_done(heroku, supervisor, jobs)
      expect_no_busy_dyno_stopped(heroku)
      expect(runs.map { |_, dyno, *| dyno }).to include("worker.4"), "the scenario needs a long job on the top dyno"
    end

    it "drops to the one dyno that works a long job as soon as the others are idle", time_limit: 90 do
      heroku, supervisor = enqueue(enqueue_jobs(jobs / 2, %w[worker.1]))
      long = -> { runs.find { |_, dyno, *| dyno == "worker.1" } }
      await("the long job to start on worker.1", timeout: 30, saw: -> { "#{runs}\n#{formation_log(dir)}" }) { long.call }
      await("the formation to drop to 1 while worker.1 works", timeout: 15, saw: -> { changes(heroku) }) do
        heroku.quantity("worker") == 1
      end
      expect(long.call.last).to be_nil, "the long job still runs when the formation is at 1"
      expect_all_done(heroku, supervisor, jobs / 2)
      expect_no_busy_dyno_stopped(heroku)
    end
  end

  context "with Delayed Job on PostgreSQL" do
    include_context "a postgres jobs database"

    before { %w[delayed_jobs middle_management_pools].each { |table| @model.connection.execute("DELETE FROM #{table}") } } # a new app

    let(:jobs) { 8 }
    let(:setup) do
      <<~RUBY
        #{delayed_job_boot}        require "middle_management"
        #{timed_run}
        TimedJob = Struct.new(:id, :long_on, :log) { def perform = timed_run(id, long_on, log) }
        # Runs for a minute the first time (to be killed), at once after.
        KillableJob = Struct.new(:log) do
          def perform
            first = !File.exist?(log)
            File.open(log, "a") { |f| f.puts [first ? "first" : "again", Process.pid, Time.now.to_f].join(" ") }
            sleep 60 if first
          end
        end
      RUBY
    end
    let(:worker_command) do
      worker = script("worker.rb", "#{setup}\nDelayed::Worker.logger = Logger.new(nil)\nDelayed::Worker.new(sleep_delay: 0.2).start\n")
      "#{RbConfig.ruby} #{worker}"
    end

    def enqueue_jobs(count, long_on)
      "#{count}.times { |i| Delayed::Job.enqueue(TimedJob.new(i, #{long_on.inspect}, #{runs_log.inspect})) }"
    end

    def idle? = @model.connection.select_value("SELECT COUNT(*) FROM delayed_jobs").to_i.zero?

    it_behaves_like "a formation that never stops a busy dyno"

    context "and a worker killed mid-job" do
      let(:vars) { super().merge("WORKER_TIMEOUT" => 3) }

      it "stops counting its job as running, and runs it again, within WORKER_TIMEOUT and a count", time_limit: 90 do
        heroku, = enqueue("Delayed::Job.enqueue(KillableJob.new(#{runs_log.inspect}))")
        attempts = -> { File.exist?(runs_log) ? File.readlines(runs_log).map(&:split) : [] }
        await("the job to start", timeout: 30, saw: -> { formation_log(dir) }) { attempts.call.any? }
        _, pid, = attempts.call.first
        Process.kill("KILL", Integer(pid))
        killed_at = Time.now.to_f
        await("the job to run again and the formation to go back to 0", timeout: 40,
              saw: -> { "#{attempts.call}; formation #{changes(heroku).map(&:last)}\n#{formation_log(dir).lines.last(15).join}" }) do
          attempts.call.size == 2 && idle? && heroku.quantity("worker").zero?
        end
        _, _, again_at = attempts.call.last
        # The timeout, then the next periodic look (COUNT_INTERVAL) of the restarted worker, then its reserve.
        expect(again_at.to_f - killed_at).to be < 3 + 2 + 5
        expect(formation_log(dir)).to match(/1 jobs run again: their workers were not heard from for 3 s \(worker\.1 host:/)
      end
    end
  end

  context "with Sidekiq, two jobs at a time per dyno" do
    include_context "a redis server"

    let(:jobs) { 16 } # enough that the dynos booting last get some
    let(:vars) { super().merge("MAX_WORKERS" => 4, "JOBS_PER_WORKER" => 2, "DYNO_CONCURRENCY" => 2) }
    let(:long_job) { 16 } # outlasts the scale-down's wait for Sidekiq's heartbeat
    # An idle Sidekiq takes up to its fetch timeout (2 s) to stop; still far below a long job.
    let(:grace) { 5 }
    let(:setup) do
      <<~RUBY
        $LOAD_PATH.unshift #{lib.inspect}
        require "sidekiq"
        Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
        Sidekiq.configure_client { |c| c.redis = { url: #{redis_server.url.inspect} } }
        Sidekiq.configure_server { |c| c.redis = { url: #{redis_server.url.inspect} } }
        require "middle_management"
        #{timed_run}
        class TimedJob
          include Sidekiq::Worker
          def perform(id, long_on, log) = timed_run(id, long_on, log)
        end
      RUBY
    end
    let(:worker_command) { "#{RbConfig.ruby} -S sidekiq -r #{script("boot.rb", setup)} -c 2 -t 5 -q default" }

    def enqueue_jobs(count, long_on)
      "#{count}.times { |i| TimedJob.perform_async(i, #{long_on.inspect}, #{runs_log.inspect}) }"
    end

    def idle?
      redis = Redis.new(url: redis_server.url)
      redis.llen("queue:default").zero? && redis.smembers("processes").sum { |process| redis.hget(process, "busy").to_i }.zero?
    ensure
      redis&.close
    end

    it_behaves_like "a formation that never stops a busy dyno"
  end

  context "with Resque" do
    include_context "a redis server"

    before(:context) do
      skip "Resque is not installed; set RESQUE_LIB=/path/to/resque/lib to run these" unless RESQUE_LIB_DIR
    end

    let(:jobs) { 8 }
    let(:setup) do
      <<~RUBY
        $LOAD_PATH.unshift #{RESQUE_LIB_DIR.inspect}, #{lib.inspect}
        require "resque"
        Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
        Resque.redis = #{redis_server.url.inspect}
        require "middle_management"
        #{timed_run}
        class TimedJob
          @queue = "default"
          def self.perform(id, long_on, log) = timed_run(id, long_on, log)
        end
      RUBY
    end
    let(:worker_command) { "#{RbConfig.ruby} #{script("worker.rb", "#{setup}\nResque::Worker.new(\"default\").work(0.2)\n")}" }

    def enqueue_jobs(count, long_on)
      "#{count}.times { |i| Resque.enqueue(TimedJob, i, #{long_on.inspect}, #{runs_log.inspect}) }"
    end

    def idle?
      redis = Redis.new(url: redis_server.url)
      # A working worker has a key of its own, beside the one saying when it started.
      redis.llen("resque:queue:default").zero? && redis.keys("resque:worker:*").all? { |key| key.end_with?(":started") }
    ensure
      redis&.close
    end

    it_behaves_like "a formation that never stops a busy dyno"
  end

  context "with GoodJob on PostgreSQL (#{GoodJobApp.library})" do
    include_context "a postgres jobs database"

    before(:context) { GoodJobSchema.define(@model) if @model }
    before { %w[good_jobs good_job_processes middle_management_pools].each { |table| @model.connection.execute("DELETE FROM #{table}") } }

    let(:jobs) { 8 }
    # Nothing but the jobs' own events may move the formation here: no periodic look hides a missed wake.
    let(:vars) { super().merge("COUNT_INTERVAL" => 60) }
    let(:grace) { 5 } # an idle GoodJob takes a moment to stop its threads; still far below a long job
    let(:setup) { GoodJobApp.boot }
    let(:worker_command) { GoodJobApp.worker_command }
    let(:job_classes) do
      script("jobs.rb", "#{timed_run}\nclass TimedJob < ActiveJob::Base\n  def perform(id, long_on, log) = timed_run(id, long_on, log)\nend\n")
    end

    def app_env(heroku, vars) = super.merge(GoodJobApp.env(database_url: postgres_server.url, jobs: job_classes))

    def enqueue_jobs(count, long_on)
      "#{count}.times { |i| TimedJob.perform_later(i, #{long_on.inspect}, #{runs_log.inspect}) }"
    end

    def idle? = @model.connection.select_value("SELECT COUNT(*) FROM good_jobs WHERE finished_at IS NULL").to_i.zero?

    it_behaves_like "a formation that never stops a busy dyno"
  end
end
