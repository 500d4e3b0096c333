require "middle_management/store"
require "rbconfig"
require "redis"

# Each store's scaling history on real parts (PostgreSQL, SQLite,
# redis-server, this process's ring): written in one step, read back by
# pool, time and kind, oldest first, and pruned of what is older than the
# retention while what is recent stays.
RSpec.describe "the stores' scaling history" do
  HISTORY_DAY = 86_400_000

  def entry(pool, kind, at, **figures) = MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: kind, at: at, figures: figures)

  let(:now) { store.now_ms }

  shared_examples "a history store" do

    it "reads a pool's entries by time and kind, oldest first, with the store stamping those it is given no time for" do
      store.record_history([entry("worker", :sample, now - 2_000, runnable: 3, capped: true, running: 1, quantity: 1,
                                                                   needed: 4, oldest_wait: 12.5),
                            entry("worker", :change, now - 2_000, from: 1, to: 4, reason: "sized to outstanding jobs",
                                                                   busy: ["worker.1"], draining: [], by: "worker.1:7:ab"),
                            entry("urgent", :sample, now - 2_000, runnable: 0, capped: false, running: 0, quantity: 0,
                                                                   needed: 0, oldest_wait: nil)])
      store.record_history([entry("worker", :error, nil, message: "422 cannot_update_above_limit", status: 422)])
      read = store.history(pool: "worker", since: now - 60_000)
      expect(read.map(&:kind)).to eq(%i[sample change error])
      expect(read.first.figures).to eq(runnable: 3, capped: true, running: 1, quantity: 1, needed: 4, oldest_wait: 12.5)
      expect(read[1].figures).to include(from: 1, to: 4, busy: ["worker.1"], by: "worker.1:7:ab")
      expect(read.last.at).to be_within(5_000).of(now)
      expect(store.history(pool: "worker", since: now - 60_000, kinds: [:change]).map(&:kind)).to eq([:change])
      expect(store.history(pool: "worker", since: now + 60_000)).to eq([])
      expect(store.history(pool: "urgent", since: 0).size).to eq(1)
    end

    it "prunes what is older than the retention, only when asked, and keeps what is recent" do
      old = [entry("worker", :sample, now - 8 * HISTORY_DAY, runnable: 1), entry("urgent", :sample, now - 9 * HISTORY_DAY, runnable: 1)]
      store.record_history(old + [entry("worker", :sample, now - 6 * HISTORY_DAY, runnable: 2)])
      store.record_history([entry("worker", :sample, now, runnable: 3)])
      expect(store.history(pool: "worker", since: 0).size).to eq(3)
      store.record_history([entry("urgent", :sample, now, runnable: 4), entry("worker", :sample, now, runnable: 5)],
                           prune_before: now - 7 * HISTORY_DAY)
      expect(store.history(pool: "worker", since: 0).map { |e| e.figures[:runnable] }).to eq([2, 3, 5])
      expect(store.history(pool: "urgent", since: 0).map { |e| e.figures[:runnable] }).to eq([4])
    end
  end

  shared_examples "an SQL history" do
    let(:store) { MiddleManagement::Store::SQL.new(@model).install }
    let(:table) { MiddleManagement::Store::SQLHistory::TABLE }

    before { store.then { @model.connection.execute("DELETE FROM #{table}") } }

    it_behaves_like "a history store"

    it "is installed by Store.install with its indexes, and skips a row no version wrote" do
      @model.connection.drop_table(table)
      expect(MiddleManagement::Store::SQL.new(@model).history_unavailable).to include("rails generate middle_management:install")
      fresh = MiddleManagement::Store::SQL.new(@model).install
      expect(fresh.history_unavailable).to be_nil
      expect(@model.connection.indexes(table).map(&:columns)).to contain_exactly(%w[process_type at], %w[at])
      @model.connection.execute("INSERT INTO #{table} (process_type, kind, at, figures) VALUES ('worker', 'sample', 1, '{oops')")
      @model.connection.execute("INSERT INTO #{table} (process_type, kind, at, figures) VALUES ('worker', 'gossip', 2, '{}')")
      expect(fresh.history(pool: "worker", since: 0)).to eq([])
    end
  end

  shared_examples "a history the generator installs" do
    it "is added by `rails generate middle_management:install` to an app that installed the store before" do
      @model.connection.drop_table(MiddleManagement::Store::SQLHistory::TABLE, if_exists: true)
      output, status = capture_within(RbConfig.ruby, "-e", <<~RUBY, timeout: 60)
        $LOAD_PATH.unshift #{File.expand_path("../lib", __dir__).inspect}
        require "tmpdir"
        require "fileutils"
        require "rails/generators"
        require "active_record"
        require "generators/middle_management/install_generator"
        Dir.chdir(Dir.mktmpdir) do
          FileUtils.mkdir_p("db/migrate")
          File.write("db/migrate/20250101000000_create_middle_management_pools.rb", "# installed long ago")
          File.write("db/migrate/20250201000000_add_look_at_to_middle_management_pools.rb", "# and upgraded")
          Rails::Generators.invoke("middle_management:install", [], destination_root: Dir.pwd)
          puts Dir["db/migrate/*.rb"].sort
          migration = Dir["db/migrate/*_create_middle_management_history.rb"].first or abort "no history migration"
          puts File.read(migration)
          ActiveRecord::Base.establish_connection(#{database_config.inspect})
          load migration
          CreateMiddleManagementHistory.migrate(:up)
        end
      RUBY
      expect(status).to be_success, output
      expect(output.scan(/_middle_management_pools\.rb/).size).to eq(2), output # none written again
      expect(output).to include("t.bigint :at, null: false", "add_index :middle_management_history, [:process_type, :at]")
      expect(MiddleManagement::Store::SQL.new(@model).history_unavailable).to be_nil
    end
  end

  context "on PostgreSQL" do
    include_context "a postgres server"
    before(:context) do
      next unless postgres_server

      @model = Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        def self.name = "HistoryStorePostgres"
      end
      @model.establish_connection(postgres_server.config(pool: 5))
    end
    after(:context) { @model&.remove_connection }

    def database_config = postgres_server.config(pool: 5)

    it_behaves_like "an SQL history"
    it_behaves_like "a history the generator installs"
  end

  context "on MySQL (MariaDB)" do
    include_context "a mysql server"
    before(:context) do
      next unless mysql_server

      @model = Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        def self.name = "HistoryStoreMysql"
      end
      @model.establish_connection(mysql_server.config)
    end
    after(:context) { @model&.remove_connection }

    it_behaves_like "an SQL history"
  end

  context "on SQLite" do
    before(:context) do
      @path = File.join(Dir.mktmpdir("middle_management-history"), "store.sqlite3")
      @model = Class.new(ActiveRecord::Base) do
        self.abstract_class = true
        def self.name = "HistoryStoreSQLite"
      end
      @model.establish_connection(adapter: "sqlite3", database: @path, pool: 5, timeout: 5_000)
    end
    after(:context) do
      @model.remove_connection
      FileUtils.remove_entry(File.dirname(@path))
    end

    def database_config = { adapter: "sqlite3", database: @path, timeout: 5_000 }

    it_behaves_like "an SQL history"
    it_behaves_like "a history the generator installs"
  end

  context "on Redis" do
    include_context "a redis server"
    let(:store) { MiddleManagement::Store::Redis.new("spec-app") { |&block| block.call(Redis.new(url: redis_server.url)) } }

    it_behaves_like "a history store"

    it "keeps it under the app's namespace, and lets a set no one prunes expire" do
      store.record_history([entry("worker", :sample, now, runnable: 1)], prune_before: now - 7 * HISTORY_DAY)
      redis = Redis.new(url: redis_server.url)
      expect(redis.keys("*")).to eq(["middle_management:spec-app:history:worker"])
      expect(redis.pttl("middle_management:spec-app:history:worker")).to be_within(60_000).of(7 * HISTORY_DAY)
    end
  end

  context "in this process (Store::Local)" do
    let(:store) { MiddleManagement::Store::Local.new }

    it_behaves_like "a history store"

    it "keeps a bounded ring per pool" do
      stub_const("MiddleManagement::Store::LocalHistory::RING", 3)
      store.record_history(Array.new(5) { |i| entry("worker", :sample, now + i, runnable: i) })
      expect(store.history(pool: "worker", since: 0).map { |e| e.figures[:runnable] }).to eq([2, 3, 4])
    end
  end
end
