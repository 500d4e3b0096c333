require "middle_management/store"
require "rbconfig"
require "redis"

# The coordination store on real PostgreSQL (a throwaway cluster), SQLite
# and redis-server, each claimed from real processes.
RSpec.describe MiddleManagement::Store do
  lib = File.expand_path("../lib", __dir__)

  # A process of its own that claims the app's lease with `ttl` ms, says
  # so, and then waits (to be killed) or, with `go` (a path), says "ready",
  # claims once as soon as that file exists, prints whether it won, and
  # (`release_after`) frees what it won once every racer has tried.
  def claimer(ttl:, go: nil, release_after: false)
    script = <<~RUBY
      $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}
      require "middle_management/store"
      #{store_setup_script}
      $stdout.sync = true
      if (go = #{go.inspect})
        STORE.read_app # connected and warm, as a running app is
        puts "ready"
        sleep 0.001 until File.exist?(go)
        lease = STORE.claim(["worker"], ttl: #{ttl})
        puts lease.held? ? "held" : "won"
        sleep 0.5 if #{release_after} && !lease.held? # the others have claimed by then
        lease.release unless lease.held?
      else
        lease = STORE.claim(["worker"], ttl: #{ttl})
        puts lease.held? ? "held" : "claimed"
        sleep
      end
    RUBY
    start_child({}, RbConfig.ruby, "-e", script)
  end

  shared_examples "a coordination store" do
    let(:pools) { %w[worker urgent_worker] }

    before { store } # installed before any process of an example claims

    def claim(holder, **options) = store.claim(pools, holder: holder, **options)

    it "lets one holder at a time decide, and records what it decided" do
      lease = claim("a")
      expect(lease).not_to be_held
      expect(lease.record("worker").to_h.compact).to eq({})
      expect(lease.app.to_h.compact).to eq({})

      held = claim("b")
      expect(held).to be_held
      expect(held.retry_in).to be_between(0, MiddleManagement::Store::LEASE_TTL / 1000.0)

      opens_at = lease.now + 10_000
      look_at = lease.now + 15_000
      settled = lease.settle(window_opens_at: opens_at, look_at: look_at,
                             pools: { "worker" => { needed: 3, memory: "d3" }, "urgent_worker" => { needed: 0 } })
      expect(settled).to be(true)
      expect(store.read("worker").quantity).to be_nil, "a decision records no quantity: only Heroku's answer does"
      store.confirm_quantity("worker", 3)
      held = claim("b", gap: 60_000)
      expect(held.look_in).to be_within(1).of(15), "a held claim learns the app's next look"
      again = claim("b")
      expect(again).not_to be_held
      expect(again.record("worker")).to have_attributes(quantity: 3, needed: 3, memory: "d3")
      expect(again.record("urgent_worker")).to have_attributes(quantity: nil, needed: 0)
      expect(again.app).to have_attributes(window_opens_at: opens_at, look_at: look_at)
      expect(again.app.decided_at).to be_within(5_000).of(again.now)
      expect(again.settle(window_opens_at: nil, pools: { "worker" => { needed: nil } })).to be(true)
      expect(store.read_app).to have_attributes(window_opens_at: nil, look_at: nil)
    end

    it "changes nothing once a lease has expired, and lets another process claim it" do
      lease = claim("a", ttl: 200)
      await("the 200 ms lease to expire", timeout: 5) { !claim("b", ttl: 60_000).held? }
      expect(lease.settle(window_opens_at: 1, pools: { "worker" => { needed: 9 } })).to be(false)
      expect(store.read("worker").needed).to be_nil
      expect(store.read_app.window_opens_at).to be_nil
      expect(claim("c")).to be_held
    end

    it "frees a released lease at once, and only its holder's" do
      lease = claim("a")
      store.release("someone else")
      expect(claim("b")).to be_held
      lease.release
      expect(claim("b")).not_to be_held
    end

    it "grants no claim within the gap of the last decision, unless a process left news" do
      claim("a").settle(window_opens_at: nil, pools: {})
      held = claim("b", gap: 60_000)
      expect(held).to be_held
      expect(held.retry_in).to be_within(5).of(60)
      lease = claim("b", gap: 0)
      expect(lease).not_to be_held
      lease.release

      store.leave_news
      expect(claim("c", gap: 60_000)).not_to be_held
    end

    it "keeps news left behind until a decision that counted after it" do
      early = claim("a")
      sleep 0.01
      store.leave_news
      left_at = store.read_app.pending_at
      expect(left_at).to be > early.claimed_at
      early.settle(window_opens_at: nil, pools: {})
      expect(store.read_app.pending_at).to eq(left_at) # that count may have missed it

      store.leave_news # the earliest is kept
      expect(store.read_app.pending_at).to eq(left_at)
      claim("b").settle(window_opens_at: nil, pools: {})
      expect(store.read_app.pending_at).to be_nil
    end

    it "records the quantity Heroku confirmed, even for a pool no decision has seen" do
      store.confirm_quantity("urgent_worker", 2)
      expect(store.read("urgent_worker").quantity).to eq(2)
      store.confirm_quantity("urgent_worker", 0)
      expect(store.read("urgent_worker").quantity).to eq(0)
    end

    it "frees a lease held by a killed process within its time to live" do
      holder = claimer(ttl: 1_500)
      await("the other process to claim the lease", saw: -> { holder.output }) { holder.output.include?("claimed") }
      expect(claim("here")).to be_held

      Process.kill("KILL", holder.pid)
      killed_at = Deadlines.monotonic
      await("the killed process's lease to expire", timeout: 5) { !claim("here").held? }
      expect(Deadlines.monotonic - killed_at).to be < 2.5
    end

    it "gives the lease to exactly one of eight processes claiming at once, round after round", time_limit: 90 do
      3.times do |round|
        go = File.join(Dir.mktmpdir("middle_management-race"), "go")
        on_release { FileUtils.remove_entry(File.dirname(go)) }
        racers = Array.new(8) { claimer(ttl: 60_000, go: go, release_after: true) }
        await("8 racers to be ready", timeout: 30, saw: -> { racers.map(&:output) }) do
          racers.all? { |racer| racer.output.include?("ready") }
        end
        FileUtils.touch(go)
        results = racers.map.with_index do |racer, i|
          racer.wait("racer #{i} of round #{round} to finish", timeout: 20)
          racer.output.lines.last.to_s.strip
        end
        expect(results.tally).to eq("won" => 1, "held" => 7), "round #{round}: #{results}"
      end
    end
  end

  describe MiddleManagement::Store::SQL do
    # An abstract model per database, so the suite's own connection is untouched.
    def self.model_for(name, config)
      Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        define_singleton_method(:name) { "StoreSpec#{name}" }
        establish_connection(config)
      end
    end

    shared_examples "an SQL store" do
      let(:store) { described_class.new(@model).install }

      before { @model.connection.execute("DELETE FROM #{described_class::TABLE}") if @model.connection.table_exists?(described_class::TABLE) }

      it_behaves_like "a coordination store"

      def drop_tables
        [described_class::TABLE, MiddleManagement::Store::Heartbeats::TABLE].each do |table|
          @model.connection.drop_table(table, if_exists: true)
        end
      end

      # What Store::SQLTimeLimit may touch on a connection, and whether a transaction is left open.
      def setting_values(conn)
        setting = case conn.adapter_name
                  when /postg/i then conn.select_value("SHOW statement_timeout")
                  when /mysql/i then conn.select_value("SELECT @@SESSION.innodb_lock_wait_timeout")
                  end
        { setting: setting, transaction_open: conn.transaction_open? }
      end

      it "installs its table once, however often asked" do
        drop_tables
        expect(described_class.new(@model)).not_to be_installed
        2.times { described_class.new(@model).install }
        expect(described_class.new(@model)).to be_installed
      end

      it "is installed by the migration `rails generate middle_management:install` writes" do
        drop_tables
        output, status = capture_within(RbConfig.ruby, "-e", <<~RUBY, timeout: 60)
          $LOAD_PATH.unshift #{lib.inspect}
          require "tmpdir"
          require "rails/generators"
          require "active_record"
          require "generators/middle_management/install_generator"
          Dir.chdir(Dir.mktmpdir) do
            Rails::Generators.invoke("middle_management:install", [], destination_root: Dir.pwd)
            migration = Dir["db/migrate/*_create_middle_management_pools.rb"].first or abort "no migration written"
            puts File.read(migration)
            #{store_setup_script}
            load migration
            CreateMiddleManagementPools.migrate(:up)
            puts "claimed: \#{!STORE.claim(["worker"]).held?}"
          end
        RUBY
        expect(status).to be_success, output
        expect(output).to include("class CreateMiddleManagementPools < ActiveRecord::Migration[6.1]",
                                  "t.bigint :lease_expires_at", "create_table :middle_management_workers", "claimed: true")
        expect(described_class.new(@model)).to be_installed
      end

      it "works with a table installed by an earlier version, says how to upgrade it, and is upgraded by the generator" do
        drop_tables
        described_class.new(@model).install
        @model.connection.remove_column(described_class::TABLE, :look_at) # as an earlier version installed it
        older = described_class.new(@model)
        lease = older.claim(["worker"], holder: "a")
        expect(lease.problems.map(&:last)).to include(a_string_matching(/lacks look_at.*rails generate middle_management:install/))
        expect(lease.settle(window_opens_at: nil, look_at: lease.now + 5_000, pools: { "worker" => { needed: 1 } })).to be(true)

        output, status = capture_within(RbConfig.ruby, "-e", <<~RUBY, timeout: 60)
          $LOAD_PATH.unshift #{lib.inspect}
          require "tmpdir"
          require "fileutils"
          require "rails/generators"
          require "active_record"
          require "generators/middle_management/install_generator"
          Dir.chdir(Dir.mktmpdir) do
            FileUtils.mkdir_p("db/migrate")
            File.write("db/migrate/20250101000000_create_middle_management_pools.rb", "# installed long ago")
            Rails::Generators.invoke("middle_management:install", [], destination_root: Dir.pwd)
            migration = Dir["db/migrate/*_add_look_at_to_middle_management_pools.rb"].first or abort "no upgrade written"
            #{store_setup_script}
            load migration
            AddLookAtToMiddleManagementPools.migrate(:up)
          end
        RUBY
        expect(status).to be_success, output
        upgraded = described_class.new(@model)
        lease = upgraded.claim(["worker"], holder: "b")
        expect(lease.problems).to be_empty
        lease.settle(window_opens_at: nil, look_at: lease.now + 5_000, pools: {})
        expect(upgraded.read_app.look_at).to be_within(10_000).of(upgraded.now_ms)
      end

      it "gives up on a claim the database keeps waiting, and leaves the connection's settings as they were" do
        claim_once = -> { store.claim(%w[worker], holder: "a").tap { |lease| lease.release unless lease.held? } }
        claim_once.call # the rows exist
        settings = -> { setting_values(@model.connection) }
        before = settings.call
        # Another session holds the app's row, as a stuck transaction would.
        locker = @model.connection_pool.checkout
        sqlite = locker.adapter_name.match?(/sqlite/i)
        locker.execute(sqlite ? "BEGIN IMMEDIATE" : "BEGIN")
        locker.execute("UPDATE #{described_class::TABLE} SET history = history WHERE process_type = '*'")
        MiddleManagement::Store::SQLTimeLimit.limit = 0.5
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        expect { claim_once.call }.to raise_error(ActiveRecord::StatementInvalid)
        waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
        # SQLite's bound is the connection's own timeout (5 s here).
        expect(waited).to be < (sqlite ? 8 : 4), "waited #{waited.round(2)} s for the locked row"
        expect(settings.call).to eq(before)
      ensure
        MiddleManagement::Store::SQLTimeLimit.limit = nil
        if locker
          locker.execute("ROLLBACK")
          @model.connection_pool.checkin(locker)
        end
        expect(claim_once.call).not_to be_held
      end

      it "tells the workers not heard from for a while, and never one that never beat" do
        heartbeats = store.heartbeats
        heartbeats.beat(%w[worker.1:a worker.2:b])
        expect(heartbeats.dead(%w[worker.1:a worker.2:b never-beat], timeout: 60)).to eq([])
        sleep 0.05
        heartbeats.beat(%w[worker.2:b])
        expect(heartbeats.dead(%w[worker.1:a worker.2:b never-beat], timeout: 0.04)).to eq(%w[worker.1:a])
        heartbeats.forget(%w[worker.1:a])
        expect(heartbeats.dead(%w[worker.1:a], timeout: 0)).to eq([])
      end

      it "judges leases by the database's clock" do
        expect(store.now_ms).to be_within(2_000).of((Time.now.to_f * 1000).round)
      end
    end

    context "on PostgreSQL" do
      include_context "a postgres server"
      before(:context) { @model = self.class.model_for("Postgres", postgres_server.config) if postgres_server }
      after(:context) { @model&.remove_connection }

      def store_setup_script
        <<~RUBY
          require "active_record"
          ActiveRecord::Base.establish_connection(#{postgres_server.config.inspect})
          STORE = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
        RUBY
      end

      it_behaves_like "an SQL store"
    end

    context "on MySQL (MariaDB)" do
      include_context "a mysql server"
      before(:context) { @model = self.class.model_for("Mysql", mysql_server.config) if mysql_server }
      after(:context) { @model&.remove_connection }

      def store_setup_script
        <<~RUBY
          require "active_record"
          ActiveRecord::Base.establish_connection(#{mysql_server.config.inspect})
          STORE = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
        RUBY
      end

      it_behaves_like "an SQL store"
    end

    context "on SQLite" do
      before(:context) do
        @path = File.join(Dir.mktmpdir("middle_management-store"), "store.sqlite3")
        @model = self.class.model_for("SQLite", adapter: "sqlite3", database: @path, pool: 5, timeout: 5_000)
      end
      after(:context) do
        @model.remove_connection
        FileUtils.remove_entry(File.dirname(@path))
      end

      def store_setup_script
        <<~RUBY
          require "active_record"
          ActiveRecord::Base.establish_connection(adapter: "sqlite3", database: #{@path.inspect}, timeout: 5_000)
          STORE = MiddleManagement::Store::SQL.new(ActiveRecord::Base)
        RUBY
      end

      it_behaves_like "an SQL store"
    end
  end

  describe MiddleManagement::Store::Redis do
    include_context "a redis server"
    let(:store) { described_class.new("spec-app") { |&block| block.call(Redis.new(url: redis_server.url)) } }

    def store_setup_script
      <<~RUBY
        require "redis"
        CONNECTION = Redis.new(url: #{redis_server.url.inspect})
        STORE = MiddleManagement::Store::Redis.new("spec-app") { |&block| block.call(CONNECTION) }
      RUBY
    end

    it_behaves_like "a coordination store"

    it "keeps apps apart" do
      other = described_class.new("other-app") { |&block| block.call(Redis.new(url: redis_server.url)) }
      expect(store.claim(["worker"], holder: "a")).not_to be_held
      expect(other.claim(["worker"], holder: "b")).not_to be_held
    end
  end

  describe MiddleManagement::Store::Local do
    let(:store) { described_class.new }

    it "is this process's alone" do
      lease = store.claim(["worker"], holder: "a")
      expect(store.claim(["worker"], holder: "b")).to be_held
      expect(lease.settle(window_opens_at: nil, pools: { "worker" => { needed: 2 } })).to be(true)
      store.confirm_quantity("worker", 2)
      expect(store.read("worker").quantity).to eq(2)
      expect(described_class.new.read("worker").quantity).to be_nil
    end
  end
end
