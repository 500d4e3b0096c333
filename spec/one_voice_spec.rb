require "json"
require "rbconfig"
require "redis"

# The app as it runs on Heroku, in real processes: two processes enqueue
# uneven bursts of work and exit, real workers run under the local
# formation (which starts and stops them as Heroku would), and all of them
# share one coordination store. The app must speak with one voice: never two
# formation calls within one throttle window, and every job done with the
# formation back at 0.
RSpec.describe "one voice per app" do
  let(:lib) { File.expand_path("../lib", __dir__) }
  let(:token) { "hk-one-voice-token-3d7e" }
  let(:throttle) { 2.0 }
  # [seconds to wait, jobs to enqueue] for each enqueuing process.
  let(:bursts) { [[[0, 6], [1.5, 2], [4, 9]], [[0.5, 3], [3, 12], [2, 1]]] }

  let(:dir) { Dir.mktmpdir("middle_management-one-voice").tap { |d| on_release { FileUtils.remove_entry(d) } } }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "MIN_WORKERS" => 0, "MAX_WORKERS" => 6,
      "JOBS_PER_WORKER" => 1, "API_THROTTLE" => throttle, "COUNT_INTERVAL" => 5 }
  end

  def start_formation(worker_command) = super(dir, worker_command, vars, token: token)

  def env(heroku) = app_env(heroku, vars)

  def enqueuers(heroku, setup, enqueue)
    bursts.map do |plan|
      script = <<~RUBY
        #{setup}
        #{plan.inspect}.each do |pause, jobs|
          sleep pause
          jobs.times { |i| #{enqueue} }
        end
      RUBY
      start_child(env(heroku), RbConfig.ruby, "-e", script)
    end
  end

  def calls(heroku)
    heroku.patches.select { |patch| patch.status == 200 }.map { |patch| [patch.at.to_f, JSON.parse(patch.body)] }
  end

  def expect_one_voice(heroku, supervisor, enqueuers, done:)
    enqueuers.each_with_index { |process, i| process.wait("enqueuer #{i} to finish", timeout: 30) }
    enqueuers.each_with_index { |process, i| expect(process.wait).to be_success, "enqueuer #{i}:\n#{process.output}" }
    await("every job done and the formation back at 0", timeout: 90,
          saw: -> { "formation #{heroku.quantity("worker")}, calls #{calls(heroku).map(&:last)}; " \
                    "the workers said:\n#{formation_log(dir).lines.last(30).join}" }) do
      done.call && heroku.quantity("worker").zero?
    end
    times = calls(heroku).map(&:first)
    gaps = times.each_cons(2).map { |a, b| (b - a).round(2) }
    expect(gaps).to all(be >= throttle - 0.05), "formation calls #{gaps} s apart: #{calls(heroku).map(&:last)}"
    expect(calls(heroku).map { |_, body| body["quantity"] }.max).to be_between(2, 6)
    await("the workers to stop", timeout: 15) { supervisor.running("worker").zero? }
  end

  context "with Delayed Job on PostgreSQL" do
    include_context "a postgres jobs database"

    let(:setup) do
      <<~RUBY
        #{delayed_job_boot}        require "middle_management"
      RUBY
    end

    it "makes at most one formation call per throttle window for two enqueuers and up to six workers", time_limit: 150 do
      worker = File.join(dir, "worker.rb")
      File.write(worker, "#{setup}\nDelayed::Worker.logger = Logger.new(nil)\n" \
                         "Delayed::Worker.new(sleep_delay: 0.2, quiet: true).start\n")
      heroku, supervisor = start_formation("#{RbConfig.ruby} #{worker}")
      processes = enqueuers(heroku, setup, "MiddleManagement::Slacker.delay.slack_for(0.5 + (i % 3) * 0.5)")
      jobs = -> { @model.connection.select_value("SELECT COUNT(*) FROM delayed_jobs").to_i }
      expect_one_voice(heroku, supervisor, processes, done: -> { jobs.call.zero? })
    end
  end

  context "with Sidekiq and a real redis-server" do
    include_context "a redis server"

    let(:setup) do
      <<~RUBY
        $LOAD_PATH.unshift #{lib.inspect}
        require "sidekiq"
        Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
        Sidekiq.configure_client { |c| c.redis = { url: #{redis_server.url.inspect} } }
        Sidekiq.configure_server { |c| c.redis = { url: #{redis_server.url.inspect} } }
        require "middle_management"
        class OneVoiceJob
          include Sidekiq::Worker
          def perform(seconds) = sleep(seconds)
        end
      RUBY
    end

    it "makes at most one formation call per throttle window for two enqueuers and up to six workers", time_limit: 150 do
      boot = File.join(dir, "boot.rb")
      File.write(boot, setup)
      heroku, supervisor = start_formation("#{RbConfig.ruby} -S sidekiq -r #{boot} -c 2 -t 8")
      processes = enqueuers(heroku, setup, "OneVoiceJob.perform_async(0.5 + (i % 3) * 0.5)")
      redis = Redis.new(url: redis_server.url)
      on_release { redis.close }
      # Nothing queued, scheduled or retrying, and no process busy.
      idle = lambda do
        redis.llen("queue:default").zero? && redis.zcard("retry").zero? &&
          redis.smembers("processes").sum { |process| redis.hget(process, "busy").to_i }.zero?
      end
      expect_one_voice(heroku, supervisor, processes, done: idle)
    end
  end

  context "a job scheduled for later, by a process that has gone" do
    let(:database) { File.join(dir, "jobs.sqlite3") }
    let(:setup) do
      <<~RUBY
        $LOAD_PATH.unshift #{lib.inspect}, #{File.expand_path("../demo", __dir__).inspect}
        require "database"
        DemoDatabase.connect(#{database.inspect})
        require "middle_management"
      RUBY
    end

    it "gets a worker before it is due from a long-running process that never enqueued anything", time_limit: 90 do
      DelayedJobDatabase.connect(database) # the jobs' table and the store's
      heroku = FakeHeroku.start(app: "example", token: token, formation: { "worker" => 0 })
      env = env(heroku).merge("MIDDLE_MANAGEMENT_COUNT_INTERVAL" => "3", "MIDDLE_MANAGEMENT_WAKE_LEAD" => "5")
      watcher = start_child(env, RbConfig.ruby, "-e", "#{setup}\nMiddleManagement.watch\nputs 'watching'\n$stdout.flush\nsleep")
      await("the watcher to start", saw: -> { watcher.output }) { watcher.output.include?("watching") }

      due_at = Time.now + 15
      scheduler = start_child(env, RbConfig.ruby, "-e", <<~RUBY)
        #{setup}
        MiddleManagement::Slacker.delay(run_at: Time.at(#{due_at.to_f})).slack_for(0)
      RUBY
      expect(scheduler.wait("the scheduling process to exit", timeout: 20)).to be_success, scheduler.output
      exited_at = Time.now
      expect(heroku.quantity("worker")).to eq(0) # due in 15 s: no worker yet

      expect(heroku.wait_for_quantity("worker", 1, timeout: 20)).to be(true), watcher.output
      hired_at = heroku.patches.find { |patch| patch.status == 200 && JSON.parse(patch.body)["quantity"] == 1 }.at
      expect(hired_at).to be > exited_at
      expect(hired_at).to be < due_at
    ensure
      DelayedJobDatabase.connect
    end
  end
end
