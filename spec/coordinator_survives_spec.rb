# The coordinator thread survives anything short of process exit, and the
# workers' heartbeats go on without it: with real Delayed Job on SQLite and
# a real fake Heroku on 127.0.0.1.
RSpec.describe "An app whose decisions meet faults" do
  let(:token) { "hk-survives-token-5c1e" }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "worker" => 0 }) }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url, "MAX_WORKERS" => 10,
      "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0 }
  end
  let(:store) { MiddleManagement::Store::SQL.new(Delayed::Job) }

  before(:all) { DelayedJobDatabase.connect }
  before { DelayedJobDatabase.clear }

  def boot(extra = {})
    boot_middle_management(vars.merge(extra))
    MiddleManagement.agent.backends.select! { |backend| backend.equal?(MiddleManagement::Backends::DelayedJob) }
  end

  def coordinator = Thread.list.find { |thread| thread.name == "middle_management" }

  it "decides from a row written by hand, and says each bad field once" do
    store.claim(["worker"], holder: "setup").release
    conn = ActiveRecord::Base.connection
    conn.execute("UPDATE #{MiddleManagement::Store::SQL::TABLE} SET quantity = #{2**33}, history = 'é1' WHERE process_type = 'worker'")
    conn.execute("UPDATE #{MiddleManagement::Store::SQL::TABLE} SET lease_holder = 'gone', lease_expires_at = NULL, " \
                 "window_opens_at = #{store.now_ms + 86_400_000 * 30} WHERE process_type = '*'")
    boot
    3.times { MiddleManagement::Slacker.delay.slack_for(0) }
    expect(MiddleManagement.flush(5)).to be(true), middle_management_log
    expect(heroku.quantity("worker")).to eq(3)
    expect(store.read("worker").quantity).to eq(3), "Heroku's answer, recorded"
    2.times { MiddleManagement::Slacker.delay.slack_for(0) }
    MiddleManagement.flush(5)
    expect(middle_management_log.scan("the store's quantity for worker is not a quantity").size).to eq(1)
    expect(middle_management_log.scan("the store's window_opens_at for the app").size).to eq(1)
    expect(coordinator).to be_alive
  end

  it "goes on deciding after a count raises what `rescue StandardError` lets pass" do
    boot
    calls = 0
    backend = MiddleManagement::Backends::DelayedJob
    original = backend.method(:count)
    backend.define_singleton_method(:count) do |pool, cap: nil|
      calls += 1
      raise NotImplementedError, "a count that fails as a missing library would" if calls == 1

      original.call(pool, cap: cap)
    end
    begin
      2.times { MiddleManagement::Slacker.delay.slack_for(0) }
      await("a decision after the failed one", timeout: 20, saw: -> { middle_management_log }) do
        heroku.quantity("worker") == 2
      end
    ensure
      backend.define_singleton_method(:count, original) # as it was, for the examples after
    end
    expect(middle_management_log).to include("could not decide: NotImplementedError")
    expect(coordinator).to be_alive
    expect(store.claim(["worker"], holder: "after")).not_to be_held, "the failed decision freed the lease"
  end

  it "beats for this process's workers while its coordinator thread is gone" do
    boot("WORKER_TIMEOUT" => 2)
    MiddleManagement::Slacker.delay.slack_for(0)
    MiddleManagement.flush(5)
    coordinator.kill.join(5)
    MiddleManagement.agent.register_worker("worker.1 host:here pid:1")
    heartbeats = MiddleManagement::Store::Heartbeats.new(Delayed::Job)
    beat_at = -> { Delayed::Job.connection.select_value("SELECT beat_at FROM middle_management_workers WHERE name = 'worker.1 host:here pid:1'").to_i }
    first = beat_at.call
    await("a second beat, half a second later (WORKER_TIMEOUT / 4)", timeout: 5, saw: -> { beat_at.call - first }) do
      beat_at.call > first
    end
    expect(heartbeats.dead(["worker.1 host:here pid:1"], timeout: 2)).to be_empty
  end

  it "takes no live worker for dead when beats resume after the database was down for longer than WORKER_TIMEOUT" do
    heartbeats = MiddleManagement::Store::Heartbeats.new(Delayed::Job).install
    conn = Delayed::Job.connection
    table = MiddleManagement::Store::Heartbeats::TABLE
    conn.execute("DELETE FROM #{table}")
    heartbeats.beat(%w[a b], timeout: 2)
    age = ->(ms) { conn.execute("UPDATE #{table} SET beat_at = beat_at - #{ms}") }
    age.call(60_000) # a minute without a beat: the database was down
    expect(heartbeats.dead(%w[a b], timeout: 2)).to be_empty, "nobody beats: the database, not the workers"
    heartbeats.beat(%w[a], timeout: 2) # the first beat after it
    expect(heartbeats.dead(%w[a b], timeout: 2)).to be_empty, "b beats within half a timeout if alive"
    # Half a timeout on, a beating all along, and still nothing from b.
    conn.execute("UPDATE #{table} SET beat_at = beat_at - 1100 WHERE name = '#{MiddleManagement::Store::Heartbeats::RESUMED}'")
    expect(heartbeats.dead(%w[a b], timeout: 2)).to eq(%w[b])
  end
end
