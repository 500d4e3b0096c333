require "json"
require "rbconfig"

# Alerts as a running app raises them, in real processes: two web-like
# processes watch the queue (MiddleManagement.watch) and take turns to
# decide through the store on PostgreSQL, others enqueue Delayed Job jobs,
# the local formation stands in for Heroku (running real workers where the
# example needs them) and a webhook server on 127.0.0.1 for Slack. An alert
# must reach the webhook once, however many decisions and processes see the
# backlog, and never while the queue is within MAX_WORKERS' reach.
RSpec.describe "alerts posted to a webhook", time_limit: 120 do
  include_context "a postgres jobs database"

  let(:token) { "hk-alerts-token-9b1f" }
  let(:secret_path) { "/services/T0/B0/alert-secret-77" }
  let(:hook) { WebhookServer.start.tap { |server| on_release { server.stop } } }
  let(:alert_after) { 3 } # seconds
  let(:dir) { Dir.mktmpdir("middle_management-alerts").tap { |d| on_release { FileUtils.remove_entry(d) } } }
  # Heroku with no workers behind it: nothing works the jobs.
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "worker" => 0 }) }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "MAX_WORKERS" => 2, "JOBS_PER_WORKER" => 1,
      "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0.5, "ALERT_AFTER" => alert_after,
      "ALERT_WEBHOOK_URL" => hook.url(secret_path) }
  end
  let(:setup) do
    <<~RUBY
      #{delayed_job_boot}
      require "middle_management"
    RUBY
  end

  before { clear_app_tables }

  def env(extra = {}) = app_env(heroku, vars).merge(extra.to_h { |name, value| ["MIDDLE_MANAGEMENT_#{name}", value.to_s] })

  def watchers(count, extra = {})
    Array.new(count) do
      start_child(env(extra), RbConfig.ruby, "-e", "#{setup}\n$stdout.sync = true\nMiddleManagement.watch\nputs 'watching'\nsleep")
    end.each { |watcher| await("a watcher to boot", saw: -> { watcher.output }) { watcher.output.include?("watching") } }
  end

  # Jobs of a minute by default: with nobody to work them, the backlog stays.
  def enqueue(jobs, extra = {}, seconds: 60)
    enqueuer = start_child(env(extra), RbConfig.ruby, "-e",
                           "#{setup}\n#{jobs}.times { MiddleManagement::Slacker.delay.slack_for(#{seconds}) }\n" \
                           "exit(MiddleManagement.flush(10) ? 0 : 1)")
    expect(enqueuer.wait("the enqueuer to finish", timeout: 30)).to be_success, enqueuer.output
  end

  def history(kind) = history_of(kind)

  # Decisions go on after the alert: samples reach this far past it.
  def await_looks(beyond_ms, from:, saw:)
    await("the watchers' looks to reach #{beyond_ms} ms on", timeout: 30, saw: saw) do
      samples = history(:sample)
      samples.any? && samples.last.first - from >= beyond_ms
    end
  end

  def alert_lines(processes) = processes.sum { |process| process.output.scan(/alert: .*/).size }

  def posts(kind) = hook.posts.select { |post| post.body["text"].match?(ALERT_WORDS.fetch(kind)) }

  ALERT_WORDS = { backlog: /need more than MAX_WORKERS/, waiting: /the oldest runnable job has waited/ }.freeze

  it "posts one alert when the backlog outgrows MAX_WORKERS for ALERT_AFTER, not one per decision" do
    processes = watchers(2)
    enqueue(6)
    enqueue(2) # the backlog grows
    saw = -> { "posts #{hook.posts.inspect}; samples #{history(:sample).last(3)}; watchers:\n#{processes.map(&:output).join("\n")}" }
    post = await("the backlog alert at the webhook", timeout: 30, saw: saw) { posts(:backlog).first }
    await_looks(3 * alert_after * 1000, from: history(:alert).map(&:first).max, saw: saw)

    # The jobs have waited too (nothing works them): that is its own alert, once too.
    expect(posts(:backlog).size).to eq(1), saw.call
    expect(posts(:waiting).size).to eq(1), saw.call
    expect(hook.posts.size).to eq(2), saw.call
    expect(post.path).to eq(secret_path)
    expect(post.body.keys).to eq(["text"])
    # The count stops at the cap (MAX_WORKERS × JOBS_PER_WORKER + 1), and says so.
    expect(post.body["text"]).to match(/\Aworker: at least 3 jobs waiting need more than MAX_WORKERS \(2\) for \d+ s/)
    expect(history(:alert).map { |_at, figures| figures["kind"] }).to contain_exactly("backlog", "waiting")
    expect(alert_lines(processes)).to eq(2), saw.call
    expect(processes.map(&:output).join).not_to include(secret_path)
    expect(heroku.quantity("worker")).to eq(2)
  end

  context "with workers that keep up" do
    let(:alert_after) { 6 }

    it "posts nothing while the queue is within reach" do
      worker = File.join(dir, "worker.rb")
      File.write(worker, "#{setup}\nDelayed::Worker.logger = Logger.new(nil)\n" \
                         "Delayed::Worker.new(sleep_delay: 0.2, quiet: true).start\n")
      formation, = start_formation(dir, "#{RbConfig.ruby} #{worker}", vars, token: token, grace: 2)
      processes = watchers(2, "HEROKU_API_URL" => formation.url)
      # A steady trickle of short jobs that two workers keep up with.
      4.times do
        enqueue(2, { "HEROKU_API_URL" => formation.url }, seconds: 0.5)
        sleep 2
      end
      first = history(:sample).first.first
      saw = -> { "samples #{history(:sample).last(3)}; the workers:\n#{formation_log(dir).lines.last(20).join}" }
      await_looks(3 * alert_after * 1000, from: first, saw: saw)
      await("every job done", timeout: 30, saw: saw) { @model.connection.select_value("SELECT COUNT(*) FROM delayed_jobs").to_i.zero? }

      expect(formation.patches.map { |patch| JSON.parse(patch.body)["quantity"] }).to include(2)
      expect(hook.posts).to be_empty
      # A moment beyond reach (while the workers boot) is no alert.
      expect(history(:sample).last.last["over_max"]).to be(false)
      expect(history(:alert)).to be_empty
      expect(alert_lines(processes)).to eq(0)
    end
  end

  it "posts one alert when Heroku refuses the token, however often it is refused" do
    processes = watchers(1, "HEROKU_API_KEY" => "hk-revoked-token-0000")
    enqueue(1, { "HEROKU_API_KEY" => "hk-revoked-token-0000" })
    post = await("the refusal at the webhook", timeout: 30, saw: -> { processes.first.output }) { hook.posts.first }
    enqueue(2, { "HEROKU_API_KEY" => "hk-revoked-token-0000" }) # a new quantity is asked, and refused again
    await("a second refusal in the history", timeout: 30, saw: -> { history(:error) }) { history(:error).size >= 2 }

    expect(hook.posts.size).to eq(1)
    expect(post.body["text"]).to eq("Heroku refused the API token (MIDDLE_MANAGEMENT_HEROKU_API_KEY), so worker cannot " \
                                    "be scaled: Heroku said 401 unauthorized: Invalid credentials provided.")
    expect(post.body["text"]).not_to include("hk-revoked-token")
  end
end
