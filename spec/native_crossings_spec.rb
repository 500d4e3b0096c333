# One decision crosses into native code a few times, whatever it decides:
# Ruby claims the lease and counts, one native call decides for every pool
# from plain values (Internal::Bridge), and one settles it. Counted with a
# TracePoint on every C method of the native classes, around each
# Runtime::Decision#run the coordinator makes, with real Delayed Job jobs on SQLite
# and the local formation as Heroku.
RSpec.describe "native crossings per decision" do
  CROSSINGS_TOKEN = "hk-crossings-token-5e1".freeze

  # Records, per Runtime::Decision#run while `runs` is set, the native methods
  # it called (on the thread that ran it).
  module CountCrossings
    class << self
      attr_accessor :runs

      def native_classes
        @native_classes ||= begin
          native = MiddleManagement::Internal::Native
          [native.singleton_class] + native.constants.map { |name| native.const_get(name) }.grep(Module)
        end
      end
    end

    def run(request)
      return super unless CountCrossings.runs

      thread = Thread.current
      calls = []
      trace = TracePoint.new(:c_call) do |tp|
        calls << tp.method_id if Thread.current == thread && CountCrossings.native_classes.include?(tp.defined_class)
      end
      trace.enable { super }
    ensure
      CountCrossings.runs << [request.why, calls] if CountCrossings.runs && calls
    end
  end
  MiddleManagement::Runtime::Decision.prepend(CountCrossings)

  before(:all) { DelayedJobDatabase.connect }
  before { DelayedJobDatabase.clear }
  before { CountCrossings.runs = [] }
  after { CountCrossings.runs = nil }

  def boot_with_pools(extra)
    formation = { "worker" => 0 }.merge(extra.to_h { |name| [name, 0] })
    heroku = FakeHeroku.start(app: "example", token: CROSSINGS_TOKEN, formation: formation)
    boot_middle_management("HEROKU_APP" => "example", "HEROKU_API_KEY" => CROSSINGS_TOKEN, "HEROKU_API_URL" => heroku.url,
                           "MAX_WORKERS" => 5, "JOBS_PER_WORKER" => 1, "API_THROTTLE" => 0, "COUNT_INTERVAL" => 0)
    MiddleManagement.configure do |c|
      extra.each { |name| c.pool name, queues: [name], min: 0, max: 3, jobs_per_worker: 1 }
    end
    heroku
  end

  { 1 => [], 2 => %w[urgent], 3 => %w[urgent reports] }.each do |count, extra|
    it "is at most #{3 + count} for #{count} pool#{'s' if count > 1}" do
      heroku = boot_with_pools(extra)
      3.times { MiddleManagement::Slacker.delay.slack_for(0) }
      extra.each { |queue| MiddleManagement::Slacker.delay(queue: queue).slack_for(0) }
      expect(MiddleManagement.flush(5)).to be(true)
      expect(heroku.quantity("worker")).to eq(3)
      extra.each { |name| expect(heroku.quantity(name)).to eq(1) }

      runs = CountCrossings.runs
      expect(runs).not_to be_empty
      runs.each do |why, calls|
        expect(calls.size).to be <= 3 + count, "a #{why} decision called #{calls.inspect}"
      end
      # What they are: one decision, one settle (or one answer of another kind).
      expect(runs.map { |_why, calls| calls }).to include(%i[decide settle])
    end
  end
end
