require "rails/generators"
require "rails/generators/active_record"
require "middle_management/store"

module MiddleManagement
  module Generators
    # `rails generate middle_management:install [--database queue]`: the
    # migrations that create the coordination store's table (as delayed_job
    # installs its own) in the jobs' database, so every process of the app
    # decides with one voice, and the scaling history's.
    class InstallGenerator < ::Rails::Generators::Base
      include ::ActiveRecord::Generators::Migration

      source_root File.expand_path("templates", __dir__)
      # Rails 8 keeps Solid Queue's tables in a database of their own: the
      # store belongs beside them (`--database queue`: db/queue_migrate).
      class_option :database, type: :string, aliases: "--db",
                              desc: "The database whose migrations get this one (default: the primary)"
      desc "Creates the migrations for Middle Management's coordination table (#{Store::SQL::TABLE}) " \
           "and scaling history (#{Store::SQLHistory::TABLE})."

      # An app that installed an earlier version gets what was added since,
      # in migrations of their own; one it has already is not written again.
      def create_migration_file
        if migrated?("create_middle_management_pools")
          migration_once "add_look_at_to_middle_management_pools"
        else
          migration_once "create_middle_management_pools"
        end
        migration_once "create_middle_management_history"
      end

      private

      def migrated?(name) = Dir[File.join(db_migrate_path, "*_#{name}.rb")].any?

      def migration_once(name)
        migration_template "#{name}.rb.tt", File.join(db_migrate_path, "#{name}.rb") unless migrated?(name)
      end

      def migration_version
        "[#{::ActiveRecord::VERSION::MAJOR}.#{::ActiveRecord::VERSION::MINOR}]"
      end
    end
  end
end
