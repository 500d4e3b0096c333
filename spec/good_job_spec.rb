require "json"
require "pg"
require "rbconfig"
require "securerandom"

# GoodJob, on a real PostgreSQL. The counts read GoodJob's tables
# (spec/support/good_job_schema.rb, from its published migration) with rows
# and advisory locks as GoodJob writes and takes them. The app runs in real
# processes under the local formation: a Rails app whose Active Job adapter
# is :good_job, with real GoodJob workers when GOOD_JOB_LIB points at its
# sources, else (as in CI, which has no fetched code) a stand-in worker
# that takes jobs as GoodJob does (spec/apps/good_job/stand_in.rb).
RSpec.describe "GoodJob" do
  include_context "a postgres jobs database"

  before(:context) { GoodJobSchema.define(@model) if @model }
  before do
    %w[good_jobs good_job_processes middle_management_pools middle_management_workers].each do |table|
      @model.connection.execute("DELETE FROM #{table}")
    end
  end

  let(:counting) { MiddleManagement::Backends::GoodJob::Counting }
  let(:heartbeats) { MiddleManagement::Store::Heartbeats.new(@model) }
  let(:now) { Time.now.utc }

  # A row as GoodJob 3.99 enqueues it (scheduled_at only when scheduled ahead).
  def enqueue(queue: "default", scheduled_at: nil, **columns)
    id = SecureRandom.uuid
    @model.connection.execute(<<~SQL)
      INSERT INTO good_jobs (id, active_job_id, queue_name, priority, serialized_params, scheduled_at, performed_at,
                             finished_at, error, locked_by_id, is_discrete, executions_count, job_class, created_at, updated_at)
      VALUES (#{[id, columns.fetch(:active_job_id, SecureRandom.uuid), queue, 0, "{}", scheduled_at, columns[:performed_at],
                 columns[:finished_at], columns[:error], columns[:locked_by_id], true, 0, columns.fetch(:job_class, "TimedJob"),
                 now, now].map { |value| @model.connection.quote(value) }.join(", ")})
    SQL
    @model.connection.execute("UPDATE good_jobs SET labels = ARRAY[#{columns[:labels].map { |l| "'#{l}'" }.join(", ")}] WHERE id = '#{id}'") if columns[:labels]
    id
  end

  def active_job_id(id) = @model.connection.select_value("SELECT active_job_id FROM good_jobs WHERE id = #{@model.connection.quote(id)}")

  # A GoodJob process row; `locked`: its advisory lock held (by `session`), as GoodJob's notifier holds it.
  def process(host: "d7f1c2", pid: 4242, lock_type: 1, updated_at: now, session: nil)
    id = SecureRandom.uuid
    @model.connection.execute(<<~SQL)
      INSERT INTO good_job_processes (id, state, lock_type, created_at, updated_at)
      VALUES ('#{id}', '#{JSON.generate(hostname: host, pid: pid)}', #{lock_type.nil? ? "NULL" : lock_type}, '#{now}', '#{updated_at}')
    SQL
    session&.exec("SELECT pg_advisory_lock(#{GoodJobSchema.lock_key_sql("good_job_processes", id)})")
    id
  end

  # Another session (a worker's), taking a job's advisory lock as GoodJob does.
  def session = PG.connect(postgres_server.url).tap { |conn| on_release { conn.close unless conn.finished? } }

  # The session ends as a killed worker's does; the server lets its locks go
  # a moment after the client has closed it.
  def end_session(session)
    pid = session.backend_pid
    session.close
    await("the server to end session #{pid}") do
      @model.connection.select_value("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = #{pid}").to_i.zero?
    end
  end

  def take(id, session:, process_id:)
    session.exec("SELECT pg_advisory_lock(#{GoodJobSchema.lock_key_sql("good_jobs", active_job_id(id))})")
    @model.connection.execute("UPDATE good_jobs SET performed_at = '#{now}', locked_by_id = '#{process_id}', " \
                              "locked_at = '#{now}' WHERE id = '#{id}'")
  end

  def count(pool = MiddleManagement::Configuration::Pool.new("worker"), cap: nil, paused: false)
    conn = @model.connection
    counting.count(conn, ->(column) { MiddleManagement::Backends::GoodJob.queue_condition(conn, pool, column) }, cap,
                   heartbeats: heartbeats, paused: paused)
  end

  describe "counts" do
    before { heartbeats.install }

    it "counts what GoodJob would dequeue: unscheduled and due jobs, not later, finished or discarded ones" do
      2.times { enqueue }
      enqueue(scheduled_at: now - 5)
      enqueue(scheduled_at: now + 40)
      enqueue(finished_at: now)
      enqueue(finished_at: now, error: "ActiveJob::DeserializationError: discarded")
      counts = count
      expect([counts.runnable, counts.running, counts.capped]).to eq([3, 0, false])
      expect(counts.next_run_in).to be_within(2).of(40)
    end

    it "counts a job whose advisory lock a live worker holds as running on that worker's dyno" do
      worker = session
      process_id = process(session: worker)
      heartbeats.beat([MiddleManagement::Store::Heartbeats.process_name("worker.3", host: "d7f1c2", pid: 4242)])
      take(enqueue, session: worker, process_id: process_id)
      enqueue
      counts = count
      expect([counts.runnable, counts.running, counts.busy_dynos]).to eq([1, 1, ["worker.3"]])
    end

    it "counts a job a killed worker left performed, unfinished, as runnable, never as busy" do
      worker = session
      process_id = process(session: worker)
      take(enqueue, session: worker, process_id: process_id)
      end_session(worker) # the worker's session dies with it: its locks go
      counts = count
      expect([counts.runnable, counts.running, counts.busy_dynos]).to eq([1, 0, []])
    end

    it "counts GoodJob 4's skip-locked claims as running while their process holds its advisory lock" do
      worker = session
      # GoodJob 3.99 to 4.4 write the advisory lock type as 1, 4.5 and later as 0.
      [1, 0].each do |lock_type|
        process_id = process(lock_type: lock_type, session: worker, host: "h#{lock_type}", pid: lock_type)
        id = enqueue
        @model.connection.execute("UPDATE good_jobs SET performed_at = '#{now}', locked_by_id = '#{process_id}' WHERE id = '#{id}'")
      end
      expect(count.to_h.values_at(:runnable, :running)).to eq([0, 2])
      end_session(worker) # the processes die: their claims are GoodJob's to clean up, and work to do again
      expect(count.to_h.values_at(:runnable, :running)).to eq([2, 0])
    end

    it "counts GoodJob 4's skip-locked claims by their process's liveness (updated within 5 minutes)" do
      live = process(lock_type: nil, updated_at: now - 30)
      expired = process(lock_type: nil, updated_at: now - 360, host: "e0a9", pid: 7)
      [live, expired].each do |process_id|
        id = enqueue
        @model.connection.execute("UPDATE good_jobs SET performed_at = '#{now}', locked_by_id = '#{process_id}' WHERE id = '#{id}'")
      end
      counts = count
      expect([counts.runnable, counts.running, counts.busy_dynos]).to eq([1, 1, [nil]]) # no heartbeat: dyno unknown
    end

    it "leaves out what GoodJob 4's pauses hold back, where they are on (a queue, a job class, a label)" do
      @model.connection.execute("DELETE FROM good_job_settings")
      @model.connection.execute(<<~SQL) # as GoodJob::Setting.pause writes it
        INSERT INTO good_job_settings (id, key, value, created_at, updated_at) VALUES (gen_random_uuid(), 'pauses',
          '{"queues": ["reports"], "job_classes": ["ExportJob"], "labels": ["hold"]}', now(), now())
      SQL
      enqueue
      enqueue(queue: "reports")
      enqueue(job_class: "ExportJob")
      enqueue(labels: %w[hold urgent])
      enqueue(queue: "reports", scheduled_at: now + 30)
      worker = session
      take(enqueue(queue: "reports"), session: worker, process_id: process(session: worker)) # running on: pauses stop takes only
      expect(count(paused: true).to_h.values_at(:runnable, :running, :next_run_in)).to eq([1, 1, nil])
      expect(count.to_h.values_at(:runnable, :running)).to eq([4, 1]) # pauses off (GoodJob 3.99, or enable_pauses false)
    end

    it "counts a pool's queues only" do
      enqueue(queue: "mailers")
      2.times { enqueue(queue: "default") }
      enqueue(queue: "images", scheduled_at: now + 10)
      expect(count(MiddleManagement::Configuration::Pool.new("urgent", queues: %w[mailers])).runnable).to eq(1)
      others = count(MiddleManagement::Configuration::Pool.new("worker", excluded_queues: %w[mailers]))
      expect([others.runnable, others.next_run_in&.round]).to eq([2, 10])
    end

    it "stops at the cap, and says so" do
      4.times { enqueue }
      3.times { enqueue(scheduled_at: now - 1) }
      expect(count(cap: 5).to_h.values_at(:runnable, :capped)).to eq([5, true])
      expect(count(cap: 8).to_h.values_at(:runnable, :capped)).to eq([7, false])
    end
  end

  describe "an app on GoodJob, in real processes (#{GoodJobApp.library})" do
    let(:token) { "hk-good-job-token-5e1a" }
    let(:throttle) { 1.0 }
    let(:vars) do
      { "HEROKU_APP" => LocalApp::APP, "HEROKU_API_KEY" => token, "MIN_WORKERS" => 0, "MAX_WORKERS" => 10,
        "JOBS_PER_WORKER" => 1, "API_THROTTLE" => throttle, "COUNT_INTERVAL" => 60, "WORKER_TIMEOUT" => 3 }
    end
    let(:dir) { Dir.mktmpdir("middle_management-good_job").tap { |d| on_release { FileUtils.remove_entry(d) } } }
    let(:runs_log) { File.join(dir, "runs.log") }
    let(:jobs) do
      File.join(dir, "jobs.rb").tap { |path| File.write(path, <<~RUBY) }
        # Each run logged with its dyno and pid; "killable" runs a minute the first time (to be killed), at once after.
        class TimedJob < ActiveJob::Base
          def perform(id, seconds)
            log("start", id)
            sleep(seconds == "killable" ? (File.readlines(#{runs_log.inspect}).size > 1 ? 0 : 60) : seconds)
            log("end", id)
          end

          def log(event, id)
            File.open(#{runs_log.inspect}, "a") { |f| f.puts [event, id, ENV.fetch("DYNO", "none"), Process.pid, Time.now.to_f].join(" ") }
          end
        end
      RUBY
    end

    before { heartbeats.install && MiddleManagement::Store::SQL.new(@model).install }

    def app_env(heroku, vars) = super.merge(GoodJobApp.env(database_url: postgres_server.url, jobs: jobs))

    def start = start_formation(dir, GoodJobApp.worker_command, vars, token: token, grace: 25)

    def run_app(heroku, code, timeout: 60)
      app = start_child(app_env(heroku, vars), RbConfig.ruby, "-e", "#{GoodJobApp.boot}\n#{code}")
      expect(app.wait("the app's process to exit", timeout: timeout)).to be_success, app.output
      app
    end

    # [event, id, dyno, pid, time] of each run.
    def runs = File.exist?(runs_log) ? File.readlines(runs_log).map(&:split) : []

    def changes(heroku)
      heroku.patches.select { |patch| patch.status == 200 }.map { |patch| [patch.at.to_f, JSON.parse(patch.body)["quantity"]] }
    end

    def unfinished = @model.connection.select_value("SELECT COUNT(*) FROM good_jobs WHERE finished_at IS NULL").to_i

    def expect_done(heroku, supervisor, count, timeout: 90)
      await("#{count} jobs done and the formation back at 0", timeout: timeout,
            saw: -> { "#{runs.count { |event, *| event == "end" }} ended, #{unfinished} unfinished, formation " \
                      "#{changes(heroku).map(&:last)}\n#{formation_log(dir).lines.last(20).join}" }) do
        runs.count { |event, *| event == "end" } >= count && unfinished.zero? && heroku.quantity("worker").zero?
      end
      await("the workers to stop", timeout: 30) { supervisor.running("worker").zero? }
    end

    it "plays the README chart through Active Job: hires, fires, back to 0, one formation call per throttle window",
       time_limit: 240 do
      heroku, supervisor = start
      run_app(heroku, "[3, 6, 20].each_with_index { |s, i| TimedJob.set(queue: 'images').perform_later(\"image-\#{i}\", s) }")
      await("the two short images done", timeout: 60, saw: -> { "#{runs}; formation #{changes(heroku)}" }) do
        runs.count { |event, *| event == "end" } >= 2
      end
      expect(changes(heroku).map(&:last).max).to eq(3)
      run_app(heroku, "105.times { |i| TimedJob.set(queue: 'emails').perform_later(\"email-\#{i}\", 0.5) }")
      expect_done(heroku, supervisor, 108, timeout: 180)

      quantities = changes(heroku).map(&:last)
      expect(quantities.max).to eq(10)
      expect(quantities.last).to eq(0)
      gaps = changes(heroku).map(&:first).each_cons(2).map { |a, b| (b - a).round(2) }
      expect(gaps).to all(be >= throttle - 0.05), "formation calls #{gaps} s apart: #{quantities}"
      expect(runs.select { |event, *| event == "end" }.map { |_, id, *| id }.tally.values).to all(eq(1)), "each job ran once"
      expect(formation_log(dir)).not_to include("SIGKILL")
    end

    it "hires a worker before a job scheduled 15 s ahead is due, with none running", time_limit: 90 do
      heroku, supervisor = start
      due = Time.now.to_f + 15
      run_app(heroku, "TimedJob.set(wait_until: Time.at(#{due})).perform_later('later', 0.5)")
      expect_done(heroku, supervisor, 1)
      hired_at, = changes(heroku).find { |_, quantity| quantity == 1 }
      expect(hired_at).to be < due
      _, _, _, _, started = runs.find { |event, *| event == "start" }
      expect(started.to_f).to be >= due - 0.01
    end

    context "with a cron entry (enqueued by a running worker, so at zero workers it would never come)" do
      let(:cron) { { every_minute: { cron: "* * * * *", class: "TimedJob", args: ["cron", 0.5] } } }

      def app_env(heroku, vars) = super.merge("GOOD_JOB_CRON" => JSON.generate(cron), "GOOD_JOB_ENABLE_CRON" => "true")

      it "hires a worker before the entry's next occurrence, with none running", time_limit: 120 do
        heroku, = start
        # The next minute ("* * * * *") at least 20 s away, so that a loaded machine boots the web process before it.
        occurrence = ((Time.now.to_i + 20) / 60 + 1) * 60
        web = start_child(app_env(heroku, vars), RbConfig.ruby, "-e", "#{GoodJobApp.boot}\nMiddleManagement.watch\nsleep")
        await("a worker hired for the occurrence", timeout: 90, saw: -> { "#{changes(heroku)}\n#{web.output}" }) do
          changes(heroku).any? { |_, quantity| quantity == 1 }
        end
        hired_at, = changes(heroku).find { |_, quantity| quantity == 1 }
        expect(hired_at).to be < occurrence
      end
    end

    it "does not let a row a SIGKILLed worker left performed hold the formation up: the job runs again",
       time_limit: 120 do
      heroku, supervisor = start
      run_app(heroku, "TimedJob.perform_later('killable', 'killable')")
      await("the job to start", timeout: 40, saw: -> { formation_log(dir) }) { runs.any? }
      _, _, _, pid, = runs.first
      Process.kill("KILL", Integer(pid))
      expect_done(heroku, supervisor, 1, timeout: 60)
      expect(runs.map { |event, *| event }).to eq(%w[start start end]), "the job ran again: #{runs}"
    end

    it "says what to run when GoodJob's migrations are not applied" do
      heroku = FakeHeroku.start(app: LocalApp::APP, token: token, formation: { "worker" => 0 })
      app = run_app(heroku, <<~RUBY)
        ActiveRecord::Base.transaction do # DDL is transactional on PostgreSQL: rolled back after
          ActiveRecord::Base.connection.remove_column(:good_jobs, :locked_by_id)
          GoodJob::Job.reset_column_information
          MiddleManagement::Backends::GoodJob.count(MiddleManagement.agent.pools.first)
        rescue MiddleManagement::Error => e
          puts "refused: \#{e.message}"
          raise ActiveRecord::Rollback
        end
      RUBY
      expect(app.output).to include("refused: GoodJob's tables lack locked_by_id or lock_type",
                                    "rails generate good_job:update && rails db:migrate")
    end

    it "drains a worker numbered above what the work needs, and lets it take jobs again when the work grows",
       time_limit: 90 do
      heroku = FakeHeroku.start(app: LocalApp::APP, token: token, formation: { "worker" => 4 }) # worker.3 is up
      store = MiddleManagement::Store::SQL.new(@model)
      store.claim(["worker"], holder: "spec").settle(window_opens_at: nil, pools: { "worker" => { needed: 1 } }) # the app's last decision
      store.confirm_quantity("worker", 4)
      worker = start_child(app_env(heroku, vars).merge("DYNO" => "worker.3"), "bash", "-c", GoodJobApp.worker_command)
      run_app(heroku, "TimedJob.perform_later('first', 0.5)") # the work needs 1 dyno: worker.3 drains
      await("the worker to be up", timeout: 30, saw: -> { worker.output }) do
        @model.connection.select_value("SELECT COUNT(*) FROM good_job_processes").to_i.positive?
      end
      sleep 3 # GoodJob polls every second: time to take the job, if it would
      expect(runs).to be_empty, "a draining worker took a job: #{runs}\n#{worker.output}"
      run_app(heroku, "2.times { |i| TimedJob.perform_later(\"more-\#{i}\", 0.5) }") # now 3: worker.3 works
      await("worker.3 to take a job", timeout: 20, saw: -> { "#{runs}\n#{worker.output}" }) { runs.any? }
      expect(runs.map { |_, _, dyno, *| dyno }.uniq).to eq(%w[worker.3])
    end

    it "wakes for a perform_later inside a transaction once it commits, and never for one rolled back",
       time_limit: 90 do
      heroku, supervisor = start
      run_app(heroku, "ActiveRecord::Base.transaction { TimedJob.perform_later('rolled-back', 0.5); raise ActiveRecord::Rollback }; " \
                      "MiddleManagement.flush(3)")
      expect(changes(heroku)).to be_empty, "a rolled-back job hired #{changes(heroku)}"
      committing_at = File.join(dir, "committing_at")
      run_app(heroku, "ActiveRecord::Base.transaction { TimedJob.perform_later('committed', 0.5); sleep 3; " \
                      "File.write(#{committing_at.inspect}, Time.now.to_f.to_s) }")
      expect_done(heroku, supervisor, 1, timeout: 45)
      expect(changes(heroku).first.first).to be > File.read(committing_at).to_f, "no call before the commit"
      expect(runs.map { |_, id, *| id }.uniq).to eq(%w[committed])
    end
  end
end
