require "rails/generators"
require "rails/generators/active_record"
require "middle_management/store"

module MiddleManagement
  module Generators
    # `rails generate middle_management:install [--database queue]`: the
    # migration that creates the coordination store's table (as delayed_job
    # installs its own) in the jobs' database, so every process of the app
    # decides with one voice.
    class InstallGenerator < ::Rails::Generators::Base
      include ::ActiveRecord::Generators::Migration

      source_root File.expand_path("templates", __dir__)
      # Rails 8 keeps Solid Queue's tables in a database of their own: the
      # store belongs beside them (`--database queue`: db/queue_migrate).
      class_option :database, type: :string, aliases: "--db",
                              desc: "The database whose migrations get this one (default: the primary)"
      desc "Creates the migration for Middle Management's coordination table (#{Store::SQL::TABLE})."

      # An app that installed an earlier version gets the columns added
      # since, in a migration of their own.
      def create_migration_file
        if Dir[File.join(db_migrate_path, "*_create_middle_management_pools.rb")].any?
          migration_template "add_look_at_to_middle_management_pools.rb.tt",
                             File.join(db_migrate_path, "add_look_at_to_middle_management_pools.rb")
        else
          migration_template "create_middle_management_pools.rb.tt",
                             File.join(db_migrate_path, "create_middle_management_pools.rb")
        end
      end

      private

      def migration_version
        "[#{::ActiveRecord::VERSION::MAJOR}.#{::ActiveRecord::VERSION::MINOR}]"
      end
    end
  end
end
