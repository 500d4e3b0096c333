# The scaling history as the real runtime writes it: Delayed Job jobs on
# SQLite, decisions made by the coordinator thread, the local formation as
# Heroku. Each decision leaves a sample per pool, and one that sends a
# quantity a change; a history that cannot be written never stops one.
RSpec.describe "scaling history" do
  HISTORY_TOKEN = "hk-history-token-41c0".freeze

  before(:all) { DelayedJobDatabase.connect }
  before do
    DelayedJobDatabase.clear
    history = MiddleManagement::Store::SQLHistory
    ActiveRecord::Base.connection.execute("DELETE FROM #{history::TABLE}") if ActiveRecord::Base.connection.table_exists?(history::TABLE)
  end
  after { MiddleManagement::Store::SQL.new(ActiveRecord::Base).install } # for the next example, whatever this one dropped

  let(:heroku) { FakeHeroku.start(app: "example", token: HISTORY_TOKEN, formation: { "worker" => 0 }) }

  def boot(extra = {})
    boot_middle_management({ "HEROKU_APP" => "example", "HEROKU_API_KEY" => HISTORY_TOKEN, "HEROKU_API_URL" => heroku.url,
                             "MAX_WORKERS" => 5, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0,
                             "COUNT_INTERVAL" => 0 }.merge(extra))
  end

  def enqueue(count)
    count.times { MiddleManagement::Slacker.delay.slack_for(0) }
    expect(MiddleManagement.flush(5)).to be(true)
  end

  def rows = ActiveRecord::Base.connection.select_value("SELECT COUNT(*) FROM middle_management_history").to_i

  it "keeps a sample of each look and the change a decision sent, with from, to, reason and who decided" do
    boot
    MiddleManagement::Slacker.delay(run_at: Time.now + 600).slack_for(0) # a reminder: its due time shows in each look
    enqueue(2)
    expect(heroku.quantity("worker")).to eq(2)
    history = await("the change and Heroku's confirmation in the history") do
      entries = MiddleManagement.history(pool: "worker")
      entries if entries.any? { |entry| entry.kind == :confirmed }
    end
    samples = history.select { |entry| entry.kind == :sample }
    expect(samples).not_to be_empty
    expect(samples.last.figures).to include(runnable: 2, running: 0, capped: false, quantity: nil, needed: 2)
    expect(samples.last.figures[:oldest_wait]).to be_a(Float).and(be_between(0, 60)) # Delayed Job tells it
    expect(samples.last.figures[:next_run_in]).to be_a(Float).and(be_between(540, 600)) # for tune: the reminder
    changes = history.select { |entry| entry.kind == :change }
    expect(changes.size).to eq(1)
    expect(changes.first.figures).to include(from: nil, to: 2, busy: [], draining: [],
                                             by: a_string_matching(/:#{Process.pid}:/))
    expect(changes.first.figures[:reason]).to be_a(String).and(match(/\S/))
    expect(history.find { |entry| entry.kind == :confirmed }.figures).to eq(quantity: 2)
    expect(history.map(&:at)).to eq(history.map(&:at).sort)
    expect(changes.first.at).to be_within(10_000).of((Time.now.to_f * 1000).round)
    expect(MiddleManagement.history(pool: "worker", kinds: [:change]).size).to eq(1)
  end

  it "records Heroku's errors, message and status, and nothing secret" do
    heroku = FakeHeroku.start(app: "example", token: HISTORY_TOKEN, formation: { "worker" => 0 }, limits: { "worker" => 1 })
    boot("HEROKU_API_URL" => heroku.url)
    2.times { MiddleManagement::Slacker.delay.slack_for(0) }
    MiddleManagement.flush(5)
    errors = await("Heroku's 422 in the history", saw: -> { MiddleManagement.history.map(&:kind) }) do
      found = MiddleManagement.history(kinds: [:error])
      found unless found.empty?
    end
    expect(errors.first.figures).to include(status: 422, message: a_string_matching(/cannot_update_above_limit/))
    expect(errors.first.figures.keys).to contain_exactly(:message, :status)
    expect(errors.first.figures.to_s).not_to include(HISTORY_TOKEN)
  end

  it "prunes what is older than the retention as it writes, and keeps what is recent" do
    store = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
    now = store.now_ms
    old = [8, 6].map do |days|
      MiddleManagement::Store::HistoryEntry.new(pool: "worker", kind: :sample, at: now - (days * 86_400_000), figures: { runnable: days })
    end
    store.record_history(old)
    boot
    enqueue(1)
    kept = MiddleManagement.history(since: 0, kinds: [:sample]).map { |entry| entry.figures[:runnable] }
    expect(kept.first).to eq(6)
    expect(kept).not_to include(8)
  end

  it "writes nothing with MIDDLE_MANAGEMENT_HISTORY=0" do
    boot("HISTORY" => "0")
    enqueue(2)
    expect(heroku.quantity("worker")).to eq(2)
    expect(rows).to eq(0)
  end

  it "scales without its table, and says once how to install it" do
    ActiveRecord::Base.connection.drop_table(MiddleManagement::Store::SQLHistory::TABLE)
    boot
    enqueue(1)
    enqueue(2)
    expect(heroku.quantity("worker")).to eq(3)
    expect(middle_management_log.scan("no history table").size).to eq(1)
    expect(middle_management_log).to include("rails generate middle_management:install")
    expect(MiddleManagement.history).to eq([])
  end

  it "scales when writing the history raises, and logs it once" do
    boot
    allow_any_instance_of(MiddleManagement::Store::SQLHistory).to receive(:record).and_raise(ActiveRecord::StatementInvalid, "disk full")
    enqueue(1)
    enqueue(2)
    expect(heroku.quantity("worker")).to eq(3)
    expect(middle_management_log.scan("could not write the scaling history").size).to eq(1)
    expect(rows).to eq(0)
  end

  it "keeps a history in the process's own ring where no store is installed" do
    # An app with Delayed Job alone: a spec run earlier in this process may
    # have loaded Sidekiq, whose Redis would be a store.
    allow(MiddleManagement::Backends).to receive(:available).and_return([MiddleManagement::Backends::DelayedJob])
    ActiveRecord::Base.connection.drop_table(MiddleManagement::Store::SQL::TABLE)
    boot
    enqueue(2)
    expect(MiddleManagement.agent.store).to be_a(MiddleManagement::Store::Local)
    expect(MiddleManagement.history(kinds: [:change]).map { |entry| entry.figures[:to] }).to eq([2])
  end
end
