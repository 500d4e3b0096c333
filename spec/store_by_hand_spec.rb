require "middle_management"

# The coordination store is the app's own table: anyone may edit a row, and
# a bug or another version may have written it. Whatever a row says, the
# app goes on deciding: a field no decision could have written is said once
# and taken as absent, never a crash at every decision and never a claim
# refused for a day. On real PostgreSQL and SQLite.
RSpec.describe "A coordination store row written by hand" do
  DAY = 86_400_000

  shared_examples "a store that shrugs off bad rows" do
    let(:store) { MiddleManagement::Store::SQL.new(@model).install }
    let(:table) { MiddleManagement::Store::SQL::TABLE }

    before do
      @model.connection.execute("DELETE FROM #{table}") if @model.connection.table_exists?(table)
      store.claim(["worker"], holder: "setup").release # the rows, as a first decision leaves them
    end

    # Writes `fields` into the row of `process_type` ("*": the app's), as a hand would.
    def write(process_type, **fields)
      conn = @model.connection
      sets = fields.map { |name, value| "#{name} = #{conn.quote(value)}" }.join(", ")
      conn.execute("UPDATE #{table} SET #{sets} WHERE process_type = #{conn.quote(process_type)}")
    end

    it "claims a lease that has no expiry, or one further off than any claim asks" do
      write("*", lease_holder: "a process long gone", lease_expires_at: nil)
      expect(store.claim(["worker"], holder: "here")).not_to be_held
      write("*", lease_holder: "a process long gone", lease_expires_at: store.now_ms + 365 * DAY)
      expect(store.claim(["worker"], holder: "here")).not_to be_held
    end

    it "claims despite a last decision dated a day ahead" do
      write("*", decided_at: store.now_ms + DAY)
      expect(store.claim(["worker"], holder: "here", gap: 1_000)).not_to be_held
    end

    it "takes each bad field as absent and names it" do
      # PostgreSQL's integer column holds no more than 2³¹ - 1 itself.
      write("worker", quantity: -1, wanted: @model.connection.adapter_name.match?(/sqlite/i) ? 2**33 : -3, history: "é1")
      write("*", window_opens_at: store.now_ms + 10 * DAY, look_at: -5)
      lease = store.claim(["worker"], holder: "here")
      expect(lease.record("worker")).to have_attributes(quantity: nil, needed: nil, memory: "é1")
      expect(lease.app).to have_attributes(window_opens_at: nil, look_at: nil)
      problems = lease.problems.map(&:last)
      expect(problems).to include(a_string_matching(/quantity for worker is not a quantity .*\("-1"\)/),
                                  a_string_matching(/wanted for worker/), a_string_matching(/window_opens_at for the app is 240/),
                                  a_string_matching(/look_at for the app is before 1970/))
      lease.release
    end

    # MAX_WORKERS=100 and an hour's scale-down delay, a queue draining from
    # 100 to 0 a job at a time, each decision made as another process would
    # (the record alone): the pacing's memory once outgrew the column
    # (1,809 characters in a string(1000)), and PostgreSQL refused every
    # settle, scale-ups included, for up to an hour.
    it "keeps the pacing's memory within its column however long the descent" do
      config = MiddleManagement::Configuration.from_env(
        "MIDDLE_MANAGEMENT_HEROKU_APP" => "example", "MIDDLE_MANAGEMENT_DRY_RUN" => "true",
        "MIDDLE_MANAGEMENT_MAX_WORKERS" => "100", "MIDDLE_MANAGEMENT_JOBS_PER_WORKER" => "1",
        "MIDDLE_MANAGEMENT_API_THROTTLE" => "0", "MIDDLE_MANAGEMENT_SCALE_DOWN_DELAY" => "1h"
      )
      native = MiddleManagement::Internal::Native::Dispatcher.new(config.native_settings)
      request = native_request(native)
      longest = 0
      100.downto(0) do |runnable|
        lease = store.claim(["worker"], holder: "decider #{runnable}")
        expect(lease).not_to be_held
        record = lease.record("worker")
        outcome = native_decide(native, request, now_ms: lease.now + ((100 - runnable) * 30_000),
                                                 window_opens_at: lease.app.window_opens_at,
                                                 pools: [{ runnable: runnable, quantity: 100, memory: record.memory }])
        verdict = outcome.pools.first
        longest = [longest, verdict.memory.length].max
        settled = lease.settle(window_opens_at: outcome.window_opens_at,
                               pools: { "worker" => { needed: verdict.needed, memory: verdict.memory } })
        expect(settled).to be(true), "the settle at #{runnable} runnable"
      end
      expect(longest).to be <= MiddleManagement::Store::Fields::MEMORY_MAX
    ensure
      native&.shutdown
    end
  end

  context "on PostgreSQL" do
    include_context "a postgres jobs database"

    it_behaves_like "a store that shrugs off bad rows"
  end

  context "on SQLite" do
    before(:context) do
      @model = Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        define_singleton_method(:name) { "StoreByHandSQLite" }
      end
      @model.establish_connection(adapter: "sqlite3", database: File.join(Dir.mktmpdir("middle_management"), "by_hand.sqlite3"))
    end
    after(:context) { @model.remove_connection }

    it_behaves_like "a store that shrugs off bad rows"
  end
end
