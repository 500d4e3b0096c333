# Several process types: queues mapped to their own pools, and Eco/Basic
# dynos (one per process type), with real Delayed Job jobs and the fake Heroku.
RSpec.describe "pools and Eco/Basic dynos" do
  POOLS_TOKEN = "hk-pools-token-77aa".freeze
  ECO_TYPES = %w[worker1 worker2 worker3 worker4].freeze

  before(:all) { DelayedJobDatabase.connect }
  before { DelayedJobDatabase.clear }

  let(:base_vars) do
    { "HEROKU_APP" => "example", "HEROKU_API_KEY" => POOLS_TOKEN, "HEROKU_API_URL" => heroku.url,
      "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0 }
  end

  def enqueue(count, queue: nil)
    count.times { MiddleManagement::Slacker.delay(queue: queue).slack_for(0) }
    MiddleManagement.flush(5)
  end

  describe "Eco mode" do
    let(:heroku) do
      FakeHeroku.start(app: "example", token: POOLS_TOKEN, formation: ECO_TYPES.to_h { |t| [t, 0] },
                       limits: ECO_TYPES.to_h { |t| [t, 1] })
    end

    before do
      boot_middle_management(base_vars.merge("PROCESS_TYPES" => ECO_TYPES.join(","), "MAX_WORKERS" => 10))
    end

    it "turns on the first types in one call, and caps at the number of types" do
      enqueue(3)
      updates = heroku.patches.map(&:json)
      expect(updates).to eq([{ "updates" => [{ "type" => "worker1", "quantity" => 1 }, { "type" => "worker2", "quantity" => 1 },
                                             { "type" => "worker3", "quantity" => 1 }, { "type" => "worker4", "quantity" => 0 }] }])
      enqueue(7)
      expect(ECO_TYPES.map { |type| heroku.quantity(type) }).to eq([1, 1, 1, 1])
      expect(patched_quantities(heroku).max).to eq(1)
      expect(middle_management_log).to include("max 10 is capped at 4")
      expect(middle_management_log).not_to include("cannot_update_above_limit")
    end
  end

  describe "two pools" do
    let(:heroku) do
      FakeHeroku.start(app: "example", token: POOLS_TOKEN, formation: { "worker" => 0, "urgent_worker" => 0 })
    end

    before do
      boot_middle_management(base_vars.merge("MAX_WORKERS" => 10))
      MiddleManagement.configure do |c|
        c.pool "urgent_worker", queues: %w[mailers urgent], min: 0, max: 5, jobs_per_worker: 1
      end
    end

    it "scales each pool from its own queues" do
      enqueue(2, queue: "mailers")
      expect(heroku.quantity("urgent_worker")).to eq(2)
      expect(heroku.quantity("worker")).to eq(0)
      enqueue(3, queue: "reports")
      enqueue(1)
      expect(heroku.quantity("worker")).to eq(4)
      expect(heroku.quantity("urgent_worker")).to eq(2)
    end

    it "sends the changes of both pools within one window in one batch call" do
      MiddleManagement.configure { |c| c.api_throttle = 2 }
      enqueue(1, queue: "reports") # opens the window
      heroku.clear_requests
      MiddleManagement::Slacker.delay(queue: "mailers").slack_for(0)
      MiddleManagement::Slacker.delay(queue: "reports").slack_for(0)
      expect(heroku.wait_for_quantity("urgent_worker", 1, timeout: 5)).to be(true)
      expect(heroku.patches.size).to eq(1)
      expect(heroku.patches.first.json["updates"]).to contain_exactly({ "type" => "worker", "quantity" => 2 },
                                                                         { "type" => "urgent_worker", "quantity" => 1 })
    end

    context "when Heroku refuses one of them" do
      let(:heroku) do
        FakeHeroku.start(app: "example", token: POOLS_TOKEN, formation: { "worker" => 0, "urgent_worker" => 0 },
                         limits: { "urgent_worker" => 1 })
      end

      it "keeps scaling the other" do
        enqueue(3, queue: "mailers")
        enqueue(2, queue: "reports")
        expect(heroku.quantity("worker")).to eq(2)
        await("Heroku's 422 in the log", saw: -> { middle_management_log }) do
          middle_management_log.include?("422 cannot_update_above_limit")
        end
      end
    end
  end
end
