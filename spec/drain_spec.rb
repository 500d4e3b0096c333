# A worker knows its dyno from DYNO and drains, taking no new job, while
# the app's last decision (in the store) needs fewer dynos than its number;
# it takes jobs again when the work needs it. Real Delayed Job workers on
# SQLite with the store installed; the decisions recorded through the store
# as any process of the app records them.
RSpec.describe "draining from the top" do
  before(:all) { DelayedJobDatabase.connect }
  before { DelayedJobDatabase.clear }

  # Delayed Job's counts only: the suite loads other job libraries, whose
  # Redis these examples do not start (and whose lags they do not want).
  def boot_middle_management(vars)
    super
    MiddleManagement.agent.backends.select! { |backend| backend.equal?(MiddleManagement::Backends::DelayedJob) }
  end

  let(:token) { "hk-drain-token-5a0e" }
  let(:heroku) { FakeHeroku.start(app: "example", token: token, formation: { "worker" => 4 }) }
  let(:vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => token, "HEROKU_API_URL" => heroku.url,
      "MAX_WORKERS" => 4, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0 }
  end

  around do |example|
    saved = ENV["DYNO"]
    ENV["DYNO"] = "worker.3"
    example.run
  ensure
    ENV["DYNO"] = saved
  end

  # What the app needs, as a decision records it.
  def app_needs(quantity)
    store = MiddleManagement::Store::SQL.new(Delayed::Job)
    lease = store.claim(["worker"], holder: "spec")
    expect(lease).not_to be_held
    lease.settle(window_opens_at: nil, pools: { "worker" => { needed: quantity } })
    store.confirm_quantity("worker", 4)
  end

  def work_off_one = Delayed::Worker.new.work_off(1)

  it "names the worker after its dyno, so each lock says which dyno works the job" do
    boot_middle_management(vars)
    expect(Delayed::Worker.new.name).to start_with("worker.3 host:")
    job = Delayed::Job.enqueue(MiddleManagement::SlackerJob.new(0))
    job.update_columns(locked_by: "worker.4 host:abc pid:7", locked_at: Delayed::Job.db_time_now)
    pool = MiddleManagement.agent.pools.first
    expect(MiddleManagement.agent.count(pool).busy_dynos).to eq(["worker.4"])
  end

  it "takes no job while the work needs fewer dynos than its number, and takes them again when it needs more" do
    boot_middle_management(vars)
    Delayed::Job.enqueue(MiddleManagement::SlackerJob.new(0))
    app_needs(2)
    expect(MiddleManagement.draining?(fresh: true)).to be(true)
    expect(work_off_one).to eq([0, 0])
    expect(Delayed::Job.count).to eq(1)
    expect(Delayed::Job.first.locked_by).to be_nil, "no job is left locked by a draining worker"
    expect(middle_management_log).to include("worker.3 drains: the work needs 2 worker dynos")

    app_needs(3)
    expect(MiddleManagement.draining?(fresh: true)).to be(false)
    expect(work_off_one).to eq([1, 0])
    expect(middle_management_log).to include("worker.3 takes jobs again")
  end

  it "gives back a job it locked as the app decided that it drains" do
    boot_middle_management(vars)
    job = Delayed::Job.enqueue(MiddleManagement::SlackerJob.new(0))
    app_needs(4)
    expect(MiddleManagement.draining?).to be(false) # read now: not draining
    app_needs(1) # the app decides while this worker reserves; the cached answer is still "no"
    expect(work_off_one).to eq([0, 0])
    expect(job.reload).to have_attributes(locked_by: nil, locked_at: nil)
  end

  it "never drains on a dyno without a number, or with no store decision yet" do
    ENV["DYNO"] = "worker-5d8f7c9b6-x2k4p"
    boot_middle_management(vars)
    app_needs(0)
    expect(MiddleManagement.draining?(fresh: true)).to be(false)
    ENV["DYNO"] = "worker.3"
    DelayedJobDatabase.clear
    boot_middle_management(vars)
    expect(MiddleManagement.draining?(fresh: true)).to be(false)
  end
end
